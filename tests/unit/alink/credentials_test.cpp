#include "iot/alink/credentials.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"

namespace alink = iot::alink;
using alink::SignMethod;

namespace {

std::string Upper(std::string s) {
  for (auto& c : s) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return s;
}

constexpr const char* kNodeSecret = "0123456789abcdef0123456789abcdef";
constexpr const char* kNodeClientId =
    "a1b2c3d4e5f&dev01|securemode=3,signmethod=hmacsha1,timestamp=1700000000000,lan=NodeJS,_v=1.2.8|";

}  // namespace

TEST_CASE("Credentials: doc test vector for all three methods", "[alink][credentials]") {
  const auto content = alink::SignContent("12345", "device", "pk", "789");
  CHECK(content == "clientId12345deviceNamedeviceproductKeypktimestamp789");
  CHECK(Upper(alink::Sign(SignMethod::kHmacSha1, "secret", content)) ==
        "FAFD82A3D602B37FB0FA8B7892F24A477F851A14");
  CHECK(alink::Sign(SignMethod::kHmacMd5, "secret", content) == "14b198324fe55e1d3c88f2e705e201ee");
  CHECK(alink::Sign(SignMethod::kHmacSha256, "secret", content) ==
        "6074a46a91b1ebb2cc4ea42790ad0e80202c9843859fc292e57c4eb19fad9e57");
  CHECK(alink::SignContent("12345", "device", "pk", "") == "clientId12345deviceNamedeviceproductKeypk");
}

TEST_CASE("Credentials: Node SDK CONNECT parses and verifies", "[alink][credentials]") {
  auto c = alink::ParseConnect(kNodeClientId, "dev01&a1b2c3d4e5f");
  REQUIRE(c.has_value());
  CHECK(c->client_id == "a1b2c3d4e5f&dev01");
  CHECK(c->product_key == "a1b2c3d4e5f");
  CHECK(c->device_name == "dev01");
  CHECK(c->secure_mode == 3);
  CHECK(c->sign_method == SignMethod::kHmacSha1);
  CHECK(c->sign_method_declared);
  CHECK(c->timestamp == "1700000000000");
  CHECK(c->Extension("lan") == "NodeJS");
  CHECK(c->Extension("_v") == "1.2.8");

  SECTION("lower-case and upper-case passwords both verify") {
    const std::string password = "9ec7e19b1e70a0ff46919c8733f6047c9afee044";
    auto ok = alink::VerifyPassword(*c, kNodeSecret, password);
    REQUIRE(ok.has_value());
    CHECK(*ok == SignMethod::kHmacSha1);
    CHECK(alink::VerifyPassword(*c, kNodeSecret, Upper(password)).has_value());
  }
  SECTION("a wrong password, secret or truncation fails with 401") {
    for (const auto* bad :
         {"9ec7e19b1e70a0ff46919c8733f6047c9afee045", "9ec7e19b1e70a0ff46919c8733f6047c9afee04", "", "zz",
          "9ec7e19b1e70a0ff46919c8733f6047c9afee0440"}) {
      auto r = alink::VerifyPassword(*c, kNodeSecret, bad);
      REQUIRE_FALSE(r.has_value());
      CHECK(alink::AlinkCode(r.error()) == iot::codes::kSignatureInvalid);
    }
    CHECK_FALSE(alink::VerifyPassword(*c, "other", "9ec7e19b1e70a0ff46919c8733f6047c9afee044").has_value());
    CHECK_FALSE(alink::VerifyPassword(*c, "", "9ec7e19b1e70a0ff46919c8733f6047c9afee044").has_value());
  }
}

TEST_CASE("Credentials: Node SDK sha256 vector, and its sha1-despite-sha256 bug is tolerated",
          "[alink][credentials]") {
  const std::string client_id =
      "a1b2c3d4e5f&dev01|securemode=3,signmethod=hmacsha256,timestamp=1700000000000,lan=NodeJS,_v=1.2.8|";
  auto c = alink::ParseConnect(client_id, "dev01&a1b2c3d4e5f");
  REQUIRE(c.has_value());
  CHECK(c->sign_method == SignMethod::kHmacSha256);
  auto real = alink::VerifyPassword(*c, kNodeSecret,
                                    "1033ace850ed922fa3bdad619976ec6f35b77785ce81c7427c4355d571f0d743");
  REQUIRE(real.has_value());
  CHECK(*real == SignMethod::kHmacSha256);
  // What Node SDK 1.2.8 actually sends when told to use sha256: an HMAC-SHA1.
  auto fallback = alink::VerifyPassword(*c, kNodeSecret, "9ec7e19b1e70a0ff46919c8733f6047c9afee044");
  REQUIRE(fallback.has_value());
  CHECK(*fallback == SignMethod::kHmacSha1);
}

TEST_CASE("Credentials: browser lan values containing '|' and a space", "[alink][credentials]") {
  for (const std::string lan : {"JS|Broswer ", "JS|WX", "JS|Ali", "JS|UNKNOW"}) {
    const std::string client_id =
        "a1b2c3d4e5f&dev01|securemode=2,signmethod=hmacsha1,timestamp="
        "1700000000000,lan=" +
        lan + ",_v=1.2.8|";
    auto c = alink::ParseConnect(client_id, "dev01&a1b2c3d4e5f");
    REQUIRE(c.has_value());
    CHECK(c->client_id == "a1b2c3d4e5f&dev01");
    CHECK(c->Extension("lan") == lan);
    CHECK(c->Extension("_v") == "1.2.8");
    CHECK(c->secure_mode == 2);
    CHECK(alink::VerifyPassword(*c, kNodeSecret, "9ec7e19b1e70a0ff46919c8733f6047c9afee044").has_value());
  }
}

TEST_CASE("Credentials: C SDK clientId with upper-case sha256 password", "[alink][credentials]") {
  const std::string id = "a1b2c3d4e5f.dev01";
  const std::string client_id =
      id + "|timestamp=2524608000000,_v=sdk-c-3.0.1,securemode=3,signmethod=hmacsha256,lan=C,gw=0,ext=0|";
  const auto password = Upper(alink::Sign(SignMethod::kHmacSha256, kNodeSecret,
                                          alink::SignContent(id, "dev01", "a1b2c3d4e5f", "2524608000000")));
  auto c = alink::ParseConnect(client_id, "dev01&a1b2c3d4e5f");
  REQUIRE(c.has_value());
  CHECK(c->client_id == id);
  CHECK(c->timestamp == "2524608000000");  // year 2050: accepted, never checked against a clock
  CHECK(c->Extension("gw") == "0");
  auto ok = alink::VerifyPassword(*c, kNodeSecret, password);
  REQUIRE(ok.has_value());
  CHECK(*ok == SignMethod::kHmacSha256);
}

TEST_CASE("Credentials: defaults when signmethod and timestamp are absent", "[alink][credentials]") {
  auto c = alink::ParseConnect("abc|securemode=3|", "dev01&a1b2c3d4e5f");
  REQUIRE(c.has_value());
  CHECK(c->sign_method == SignMethod::kHmacMd5);
  CHECK_FALSE(c->sign_method_declared);
  CHECK_FALSE(c->timestamp.has_value());
  const auto password =
      alink::Sign(SignMethod::kHmacMd5, "s3cret", "clientIdabcdeviceNamedev01productKeya1b2c3d4e5f");
  CHECK(alink::VerifyPassword(*c, "s3cret", password).has_value());
  auto empty_ext = alink::ParseConnect("abc||", "dev01&a1b2c3d4e5f");
  REQUIRE(empty_ext.has_value());
  CHECK(empty_ext->extension.empty());
}

TEST_CASE("Credentials: sign method names are case-insensitive", "[alink][credentials]") {
  CHECK(alink::ParseSignMethod("hmacsha1") == SignMethod::kHmacSha1);
  CHECK(alink::ParseSignMethod("HmacSHA256") == SignMethod::kHmacSha256);
  CHECK(alink::ParseSignMethod("hmacMd5") == SignMethod::kHmacMd5);
  CHECK_FALSE(alink::ParseSignMethod("hmacsha512").has_value());
  CHECK_FALSE(alink::ParseSignMethod("").has_value());
  auto r = alink::ParseConnect("abc|signmethod=hmacsha512|", "dev01&a1b2c3d4e5f");
  REQUIRE_FALSE(r.has_value());
  CHECK(alink::AlinkCode(r.error()) == 6292);
}

TEST_CASE("Credentials: hostile CONNECT input is an error value", "[alink][credentials]") {
  const std::string good_user = "dev01&a1b2c3d4e5f";
  const auto bad_client = GENERATE(as<std::string>{}, "", "abc", "abc|", "|securemode=3|", "abc|securemode=3",
                                   "abc|securemode=3|x", "abc|securemode=x|", "abc|securemode=|",
                                   std::string("ab\0c|a=b|", 9), "abc|lan=\xff\xfe|", "abc|a=b\n|",
                                   std::string(100000, '|'), "a" + std::string(100000, 'x') + "|a=b|");
  auto r = alink::ParseConnect(bad_client, good_user);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == alink::Errc::kBadClientId);

  const auto bad_user = GENERATE(as<std::string>{}, "", "dev01", "&", "dev01&", "&a1b2c3d4e5f",
                                 "dev01&a1b2c3d4e5f&x", "a1b2c3d4e5f&dev01&", "d&a1b2c3d4e5f",
                                 std::string("dev01&a1b2\0c3d4", 15), std::string(100000, '&'));
  auto u = alink::ParseConnect("abc|securemode=3|", bad_user);
  REQUIRE_FALSE(u.has_value());
  CHECK(u.error() == alink::Errc::kBadUsername);
}

TEST_CASE("Credentials: MakeConnectParams produces what ParseConnect verifies", "[alink][credentials]") {
  for (const auto method : {SignMethod::kHmacMd5, SignMethod::kHmacSha1, SignMethod::kHmacSha256}) {
    for (const std::string ts : {"2524608000000", ""}) {
      const auto p = alink::MakeConnectParams("a1b2c3d4e5f", "dev01", kNodeSecret, method, ts);
      auto c = alink::ParseConnect(p.client_id, p.username);
      REQUIRE(c.has_value());
      CHECK(c->client_id == "a1b2c3d4e5f.dev01");
      CHECK(c->sign_method == method);
      auto ok = alink::VerifyPassword(*c, kNodeSecret, p.password);
      REQUIRE(ok.has_value());
      CHECK(*ok == method);
    }
  }
}

TEST_CASE("Credentials: sub-device sign accepts both key spellings and timestamp types",
          "[alink][credentials][subdevice]") {
  const std::string secret = "subsecret";
  const auto sign = alink::Sign(SignMethod::kHmacSha1, secret,
                                alink::SignContent("sub.c", "sub01", "a1b2c3d4e5f", "1524448722000"));
  SECTION("C SDK: signmethod, string timestamp") {
    const nlohmann::json item = {{"productKey", "a1b2c3d4e5f"}, {"deviceName", "sub01"},
                                 {"clientId", "sub.c"},         {"timestamp", "1524448722000"},
                                 {"signmethod", "hmacSha1"},    {"sign", sign}};
    auto s = alink::DecodeSubDeviceSign(item);
    REQUIRE(s.has_value());
    CHECK(alink::VerifySubDeviceSign(*s, secret).has_value());
    CHECK_FALSE(alink::VerifySubDeviceSign(*s, "other").has_value());
  }
  SECTION("Node SDK: signMethod, numeric timestamp, upper-case sign") {
    const nlohmann::json item = {{"productKey", "a1b2c3d4e5f"}, {"deviceName", "sub01"},
                                 {"clientId", "sub.c"},         {"timestamp", 1524448722000},
                                 {"signMethod", "HMACSHA1"},    {"sign", Upper(sign)}};
    auto s = alink::DecodeSubDeviceSign(item);
    REQUIRE(s.has_value());
    CHECK(s->timestamp == "1524448722000");
    CHECK(alink::VerifySubDeviceSign(*s, secret).has_value());
  }
  SECTION("missing or malformed fields") {
    CHECK_FALSE(alink::DecodeSubDeviceSign(nlohmann::json::array()).has_value());
    CHECK_FALSE(alink::DecodeSubDeviceSign({{"productKey", "a1b2c3d4e5f"}}).has_value());
    const nlohmann::json bad_method = {
        {"productKey", "p"}, {"deviceName", "d"}, {"clientId", "c"}, {"sign", "s"}, {"signMethod", "rsa"}};
    auto r = alink::DecodeSubDeviceSign(bad_method);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == alink::Errc::kUnsupportedSignMethod);
    const nlohmann::json bad_ts = {{"productKey", "p"}, {"deviceName", "d"},        {"clientId", "c"},
                                   {"sign", "s"},       {"signMethod", "hmacsha1"}, {"timestamp", 1.5}};
    CHECK_FALSE(alink::DecodeSubDeviceSign(bad_ts).has_value());
  }
}

TEST_CASE("Register sign: reference example and the Node SDK's SHA-1 whatever it declares",
          "[credentials][register]") {
  using iot::alink::SignMethod;
  // Reference §5.2: dn dev01, pk a1b2c3d4e5f, random abc123, ProductSecret ProductSecret123.
  CHECK(iot::alink::RegisterSignContent("dev01", "a1b2c3d4e5f", "abc123") ==
        "deviceNamedev01productKeya1b2c3d4e5frandomabc123");
  CHECK(iot::alink::Sign(SignMethod::kHmacSha1, "ProductSecret123",
                         iot::alink::RegisterSignContent("dev01", "a1b2c3d4e5f", "abc123")) ==
        "2aeef6e69b3edc3d5d11731766ad6dd2f50df860");
  auto ok = iot::alink::VerifyRegisterSign(SignMethod::kHmacSha1, "ProductSecret123", "dev01", "a1b2c3d4e5f",
                                           "abc123", "2AEEF6E69B3EDC3D5D11731766AD6DD2F50DF860");
  REQUIRE(ok.has_value());
  CHECK(*ok == SignMethod::kHmacSha1);
  // Declared sha256 but signed with SHA-1 (Node SDK): accepted as SHA-1.
  auto fallback =
      iot::alink::VerifyRegisterSign(SignMethod::kHmacSha256, "ProductSecret123", "dev01", "a1b2c3d4e5f",
                                     "abc123", "2aeef6e69b3edc3d5d11731766ad6dd2f50df860");
  REQUIRE(fallback.has_value());
  CHECK(*fallback == SignMethod::kHmacSha1);
  const std::string sha256 = iot::alink::Sign(SignMethod::kHmacSha256, "ProductSecret123",
                                              "deviceNamedev01productKeya1b2c3d4e5frandomabc123");
  CHECK(iot::alink::VerifyRegisterSign(SignMethod::kHmacSha256, "ProductSecret123", "dev01", "a1b2c3d4e5f",
                                       "abc123", sha256)
            .has_value());
  CHECK_FALSE(iot::alink::VerifyRegisterSign(SignMethod::kHmacSha1, "ProductSecret124", "dev01",
                                             "a1b2c3d4e5f", "abc123",
                                             "2aeef6e69b3edc3d5d11731766ad6dd2f50df860")
                  .has_value());
  CHECK_FALSE(iot::alink::VerifyRegisterSign(SignMethod::kHmacSha1, "ProductSecret123", "dev02",
                                             "a1b2c3d4e5f", "abc123",
                                             "2aeef6e69b3edc3d5d11731766ad6dd2f50df860")
                  .has_value());
  CHECK_FALSE(iot::alink::VerifyRegisterSign(SignMethod::kHmacSha1, "", "dev01", "a1b2c3d4e5f", "abc123", "")
                  .has_value());
  CHECK_FALSE(iot::alink::VerifyRegisterSign(SignMethod::kHmacSha1, "ProductSecret123", "dev01",
                                             "a1b2c3d4e5f", "abc123", "zz")
                  .has_value());
}

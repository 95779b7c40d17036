#include "iot/alink/ota.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/signed_url.hpp"

namespace alink = iot::alink;
using Json = nlohmann::json;

namespace {

alink::OtaPackage Package() {
  alink::OtaPackage p;
  p.size = 1024;
  p.version = "1.0.1";
  p.is_diff = true;
  p.url = "https://iot.example/api/v1/files/firmware/ab?expires=1&signature=cd";
  p.md5 = std::string(32, 'a');
  p.sign = std::string(64, 'b');
  p.module = "MCU";
  p.ext_data = Json{{"k", "v"}};
  return p;
}

}  // namespace

TEST_CASE("OTA push: Alibaba's shape with the string code 1000", "[alink][ota]") {
  Json push = Json::parse(alink::BuildOtaPush("42", Package()));
  CHECK(push["code"] == "1000");
  CHECK(push["id"] == "42");
  CHECK(push["message"] == "success");
  const Json& data = push["data"];
  CHECK(data == Json{{"size", 1024},
                     {"version", "1.0.1"},
                     {"isDiff", 1},
                     {"url", Package().url},
                     {"md5", std::string(32, 'a')},
                     {"sign", std::string(64, 'b')},
                     {"signMethod", "SHA256"},
                     {"module", "MCU"},
                     {"extData", {{"k", "v"}}}});
  // What a device decodes is what was sent.
  auto back = alink::DecodeOtaPackage(data);
  REQUIRE(back.has_value());
  CHECK(alink::OtaPackageData(*back) == data);
}

TEST_CASE("OTA package decoding (device side): required fields, sign methods, defaults", "[alink][ota]") {
  Json data = alink::OtaPackageData(Package());
  Json md5_only = data;
  md5_only.erase("sign");
  md5_only.erase("signMethod");
  md5_only.erase("module");
  md5_only.erase("extData");
  auto p = alink::DecodeOtaPackage(md5_only);
  REQUIRE(p.has_value());
  CHECK(p->sign_method == "Md5");
  CHECK(p->sign == std::string(32, 'a'));
  CHECK(p->module == "default");

  auto refused = [](Json d) { return alink::DecodeOtaPackage(d).error(); };
  Json bad = data;
  bad.erase("url");
  CHECK(refused(bad) == alink::Errc::kMissingField);
  bad = data;
  bad["size"] = -1;
  CHECK(refused(bad) == alink::Errc::kBadFieldType);
  bad = data;
  bad["signMethod"] = "SHA1";
  CHECK(refused(bad) == alink::Errc::kBadFieldType);
  bad = data;
  bad["sign"] = std::string(32, 'b');  // not a SHA-256
  CHECK(refused(bad) == alink::Errc::kBadFieldType);
  bad = md5_only;
  bad.erase("md5");
  CHECK(refused(bad) == alink::Errc::kMissingField);  // nothing to verify with
  bad = data;
  bad["extData"] = "x";
  CHECK(refused(bad) == alink::Errc::kBadFieldType);
  CHECK(refused(Json::array()) == alink::Errc::kBadFieldType);
}

TEST_CASE("OTA inform: version per module, the default module when absent", "[alink][ota]") {
  auto inform = alink::DecodeOtaInform(Json{{"version", "1.0.1"}, {"module", "MCU"}});
  REQUIRE(inform.has_value());
  CHECK(inform->module == "MCU");
  CHECK(inform->version == "1.0.1");
  CHECK(alink::DecodeOtaInform(Json{{"version", "2"}})->module == "default");
  CHECK(alink::DecodeOtaInform(Json{{"version", "2"}, {"module", ""}})->module == "default");
  CHECK(alink::DecodeOtaInform(Json::object()).error() == alink::Errc::kMissingField);
  CHECK(alink::DecodeOtaInform(Json{{"version", ""}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::DecodeOtaInform(Json{{"version", 1}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::DecodeOtaInform(Json{{"version", std::string(65, 'v')}}).error() ==
        alink::Errc::kBadFieldType);
  CHECK(alink::DecodeOtaInform(Json{{"version", "1"}, {"module", 3}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::DecodeOtaInform(Json::array()).error() == alink::Errc::kBadFieldType);
  // What the SDK sends decodes back.
  Json sent = Json::parse(alink::BuildOtaInform("7", "3.1", "MCU"));
  CHECK(sent["id"] == "7");
  CHECK(alink::DecodeOtaInform(sent["params"])->version == "3.1");
  CHECK_FALSE(Json::parse(alink::BuildOtaInform("7", "3.1", "default"))["params"].contains("module"));
}

TEST_CASE("OTA progress: steps as strings or numbers, 1..100 and -1..-4 only", "[alink][ota]") {
  auto p = alink::DecodeOtaProgress(Json{{"step", "-3"}, {"desc", "verify failed"}, {"module", "MCU"}});
  REQUIRE(p.has_value());
  CHECK(p->step == alink::kOtaVerifyFailed);
  CHECK(p->desc == "verify failed");
  CHECK(p->module == "MCU");
  CHECK(alink::DecodeOtaProgress(Json{{"step", 55}})->step == 55);
  CHECK(alink::DecodeOtaProgress(Json{{"step", "100"}})->module == "default");
  for (const Json& step : {Json("0"), Json("101"), Json("-5"), Json("1.5"), Json(""), Json("12a"), Json(7.5),
                           Json(true), Json(nullptr)}) {
    INFO(step.dump());
    CHECK(alink::DecodeOtaProgress(Json{{"step", step}}).error() == alink::Errc::kBadFieldType);
  }
  CHECK(alink::DecodeOtaProgress(Json{{"desc", "x"}}).error() == alink::Errc::kMissingField);
  CHECK(alink::DecodeOtaProgress(Json{{"step", "1"}, {"desc", 1}}).error() == alink::Errc::kBadFieldType);
  Json sent = Json::parse(alink::BuildOtaProgress("9", -2, "cut", "MCU"));
  CHECK(sent["params"]["step"] == "-2");
  CHECK(alink::DecodeOtaProgress(sent["params"])->desc == "cut");
}

TEST_CASE("OTA firmware get params and the signed firmware link", "[alink][ota]") {
  CHECK(*alink::DecodeOtaFirmwareGet(Json{{"module", "MCU"}}) == "MCU");
  CHECK(*alink::DecodeOtaFirmwareGet(Json::object()) == "default");
  CHECK(*alink::DecodeOtaFirmwareGet(Json(nullptr)) == "default");
  CHECK(alink::DecodeOtaFirmwareGet(Json{{"module", 1}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::DecodeOtaFirmwareGet(Json("MCU")).error() == alink::Errc::kBadFieldType);

  const std::string key = "0123456789abcdef0123456789abcdef";
  const std::string url = alink::FirmwareFileUrl("https://h", key, "f00d", 1000);
  CHECK(url ==
        iot::SignedUrl("https://h", "/api/v1/files/firmware/f00d", key, 1000 + alink::kFirmwareUrlTtlS));
  // A task's link: the task is signed with the path.
  const std::int64_t expires = 1000 + alink::kFirmwareUrlTtlS;
  CHECK(alink::FirmwareFileUrl("https://h", key, "f00d", 1000, 42) ==
        "https://h/api/v1/files/firmware/f00d?task=42&expires=" + std::to_string(expires) +
            "&signature=" + iot::UrlSignature(key, "/api/v1/files/firmware/f00d?task=42", expires));
  CHECK(alink::FirmwareSignedResource("f00d", "42") == "/api/v1/files/firmware/f00d?task=42");
  CHECK(alink::FirmwareSignedResource("f00d", "") == "/api/v1/files/firmware/f00d");
  CHECK(iot::VerifyUrl(key, alink::FirmwareSignedResource("f00d", "42"), std::to_string(expires),
                       iot::UrlSignature(key, "/api/v1/files/firmware/f00d?task=42", expires),
                       1000) == iot::UrlCheck::kValid);
  CHECK(iot::VerifyUrl(key, alink::FirmwareSignedResource("f00d", "43"), std::to_string(expires),
                       iot::UrlSignature(key, "/api/v1/files/firmware/f00d?task=42", expires),
                       1000) == iot::UrlCheck::kBadSignature);
}

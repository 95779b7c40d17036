#include "iot/alink/custom_topic.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "iot/common/base64.hpp"

using namespace iot::alink;  // NOLINT(google-build-using-namespace): test file

TEST_CASE("Custom topics: a device's user/ suffix is checked, everything else refused", "[alink][custom]") {
  auto ok = DeviceUserTopic("a1b2c3d4e5f", "dev01", "user/get");
  CHECK(ok.problem.empty());
  CHECK(ok.topic == "/a1b2c3d4e5f/dev01/user/get");
  CHECK(DeviceUserTopic("a1b2c3d4e5f", "dev01", "/a1b2c3d4e5f/dev01/user/a/b-c.d_e").topic ==
        "/a1b2c3d4e5f/dev01/user/a/b-c.d_e");
  for (const std::string& bad : std::vector<std::string>{"get",
                                                         "user",
                                                         "user/",
                                                         "user//x",
                                                         "user/x/",
                                                         "user/+",
                                                         "user/#",
                                                         "user/a+b",
                                                         "user/../x",
                                                         "user/./x",
                                                         "user/$SYS",
                                                         "user/a b",
                                                         "user/\xc3\xa9",
                                                         std::string("user/a\0b", 8),
                                                         "/sys/a1b2c3d4e5f/dev01/user/x",
                                                         "/a1b2c3d4e5f/dev02/user/x",
                                                         "/a1b2c3d4e5f/dev01/user/",
                                                         "sys/a1b2c3d4e5f/dev01/thing/service/x",
                                                         "user/" + std::string(129, 'a'),
                                                         "user/1/2/3/4/5/6/7/8/9"}) {
    CAPTURE(bad);
    auto r = DeviceUserTopic("a1b2c3d4e5f", "dev01", bad);
    CHECK(r.topic.empty());
    CHECK_FALSE(r.problem.empty());
  }
  CHECK(DeviceUserTopic("a1b2c3d4e5f", "dev01", "user/" + std::string(128, 'a')).problem.empty());
  CHECK(DeviceUserTopic("a1b2c3d4e5f", "dev01", "user/1/2/3/4/5/6/7/8").problem.empty());
}

TEST_CASE("Custom topics: broadcast and RRPC topics", "[alink][custom]") {
  CHECK(BroadcastTopic("a1b2c3d4e5f", "ota/notice").topic == "/broadcast/a1b2c3d4e5f/ota/notice");
  CHECK(BroadcastTopic("a1b2c3d4e5f", "/broadcast/a1b2c3d4e5f/x").topic == "/broadcast/a1b2c3d4e5f/x");
  CHECK_FALSE(BroadcastTopic("a1b2c3d4e5f", "/broadcast/other/x").problem.empty());
  CHECK_FALSE(BroadcastTopic("a1b2c3d4e5f", "#").problem.empty());
  CHECK(ExtRrpcTopic("42", "/a1b2c3d4e5f/dev01/user/get") == "/ext/rrpc/42/a1b2c3d4e5f/dev01/user/get");
  CHECK(ExtRrpcTopic("42", "sys/a1b2c3d4e5f/dev01/thing/service/X") ==
        "/ext/rrpc/42/sys/a1b2c3d4e5f/dev01/thing/service/X");
  // The re-routed answer, and back.
  const std::string reply =
      RrpcReplyTopic("a1b2c3d4e5f", "dev01", "/ext/rrpc/42//a1b2c3d4e5f/dev01/user/get");
  CHECK(reply == "/iot/rrpc/reply/a1b2c3d4e5f/dev01/42/a1b2c3d4e5f/dev01/user/get");
  auto parsed = ParseRrpcReplyTopic(reply);
  REQUIRE(parsed);
  CHECK(parsed->product_key == "a1b2c3d4e5f");
  CHECK(parsed->device_name == "dev01");
  CHECK(parsed->message_id == "42");
  CHECK(parsed->inner == "a1b2c3d4e5f/dev01/user/get");
  CHECK_FALSE(ParseRrpcReplyTopic("/iot/rrpc/reply/a1b2c3d4e5f/dev01/42"));
  CHECK_FALSE(ParseRrpcReplyTopic("/iot/rrpc/reply/a1/dev01/42/x"));
  CHECK_FALSE(ParseRrpcReplyTopic("/ext/rrpc/42/a1b2c3d4e5f/dev01/user/get"));
}

TEST_CASE("Custom topics: payload encodings", "[alink][custom]") {
  CHECK(DecodePayload("text", "héllo").bytes == "héllo");
  CHECK(DecodePayload("", "x").bytes == "x");
  auto bin = DecodePayload("base64", "AP8BAg==");
  CHECK(bin.problem.empty());
  CHECK(bin.bytes == std::string("\x00\xff\x01\x02", 4));
  for (const char* bad : {"AP8BAg=", "AP8B Ag==", "A", "AP8BAg===", "*P8BAg==", "AQ=x", "AR=="}) {
    CAPTURE(bad);
    CHECK_FALSE(DecodePayload("base64", bad).problem.empty());
  }
  CHECK_FALSE(DecodePayload("hex", "00").problem.empty());
  CHECK(EncodePayload("plain text\n").encoding == "text");
  CHECK(EncodePayload("héllo").encoding == "text");
  auto encoded = EncodePayload(std::string("\x00\x01", 2));
  CHECK(encoded.encoding == "base64");
  CHECK(encoded.text == "AAE=");
  CHECK(EncodePayload("\xff\xfe").encoding == "base64");
}

TEST_CASE("Base64: RFC 4648 vectors, round trips and strictness", "[common][base64]") {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(iot::Base64Encode(plain) == encoded);
    CHECK(iot::Base64Decode(encoded) == std::string(plain));
  }
  CHECK(iot::Base64Decode("Zm9vYg") == std::string("foob"));  // unpadded accepted
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  CHECK(iot::Base64Decode(iot::Base64Encode(all)) == all);
  CHECK_FALSE(iot::Base64Decode("Zm9v\n"));
  CHECK_FALSE(iot::Base64Decode("Zh=="));  // unused bits set
  CHECK_FALSE(iot::Base64Decode("Zm9v-_"));
}

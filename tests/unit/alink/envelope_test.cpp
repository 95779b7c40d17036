#include "iot/alink/envelope.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"

namespace alink = iot::alink;
using nlohmann::json;

namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/alink/" + name);
  REQUIRE(in.good());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int DecodeCode(const std::string& payload) {
  auto r = alink::DecodeRequest(payload);
  REQUIRE_FALSE(r.has_value());
  return alink::AlinkCode(r.error());
}

}  // namespace

TEST_CASE("Envelope: decodes a property post and hands over params", "[alink][envelope]") {
  auto r = alink::DecodeRequest(ReadFixture("property_post.json"));
  REQUIRE(r.has_value());
  CHECK(r->id == "17");
  CHECK(r->version == "1.0");
  CHECK(r->method == "thing.event.property.post");
  CHECK(r->ack);
  REQUIRE(r->params);
  CHECK((*r->params)["PowerOn"] == 1);
  CHECK((*r->params)["TargetTemp"]["value"] == 21.5);
  CHECK((*r->params)["Position"]["Sats"] == 9);
}

TEST_CASE("Envelope: the Node SDK id is kept as an opaque string", "[alink][envelope]") {
  const std::string payload =
      R"({"id":"1|exp-topic|/sys/pk/dn/thing/event/property/post_reply","version":"1.0",)"
      R"("params":{"a":1},"method":"thing.event.property.post"})";
  auto r = alink::DecodeRequest(payload);
  REQUIRE(r.has_value());
  CHECK(r->id == "1|exp-topic|/sys/pk/dn/thing/event/property/post_reply");
  const auto reply = alink::BuildReply(r->id, 200, r->method);
  CHECK(reply == R"({"id":"1|exp-topic|/sys/pk/dn/thing/event/property/post_reply","code":200,"data":{},)"
                 R"("message":"success","method":"thing.event.property.post","version":"1.0"})");
}

TEST_CASE("Envelope: numeric ids keep their textual form", "[alink][envelope]") {
  CHECK(alink::DecodeRequest(R"({"id":123,"params":{}})")->id == "123");
  CHECK(alink::DecodeRequest(R"({"id":-5})")->id == "-5");
  CHECK(alink::DecodeRequest(R"({"id":18446744073709551615})")->id == "18446744073709551615");
  CHECK(alink::DecodeRequest(R"({"id":1.50})")->id == "1.50");
  CHECK(alink::DecodeRequest(R"({"id":1e3})")->id == "1e3");
  CHECK(alink::DecodeRequest(R"({"id":99999999999999999999999})")->id == "99999999999999999999999");
  // A number nested elsewhere does not disturb the captured id.
  CHECK(alink::DecodeRequest(R"({"id":7,"params":{"id":8}})")->id == "7");
  CHECK(alink::DecodeRequest(R"({"params":{"id":8},"id":"s"})")->id == "s");
}

TEST_CASE("Envelope: sys.ack decides whether a reply is wanted", "[alink][envelope]") {
  CHECK(alink::DecodeRequest(R"({"id":"1"})")->ack);
  CHECK(alink::DecodeRequest(R"({"id":"1","sys":{}})")->ack);
  CHECK(alink::DecodeRequest(R"({"id":"1","sys":{"ack":1}})")->ack);
  CHECK_FALSE(alink::DecodeRequest(R"({"id":"1","sys":{"ack":0}})")->ack);
  CHECK_FALSE(alink::DecodeRequest(R"({"id":"1","sys":{"ack":false}})")->ack);
  CHECK(alink::DecodeRequest(R"({"id":"1","sys":"weird"})")->ack);
}

TEST_CASE("Envelope: method and params may be missing", "[alink][envelope]") {
  auto r = alink::DecodeRequest(R"({"id":"9","params":{"version":"1.0.1"}})");
  REQUIRE(r.has_value());
  CHECK(r->method.empty());
  CHECK(r->version.empty());
  auto empty_method = alink::DecodeRequest(R"({"id":"9","method":""})");
  REQUIRE(empty_method.has_value());
  CHECK(empty_method->params->is_null());
  CHECK(alink::DecodeRequest(R"({"id":"9","method":null})").has_value());
}

TEST_CASE("Envelope: broken payloads are errors with their Alink code", "[alink][envelope]") {
  using iot::codes::kNotJson;
  using iot::codes::kParamError;
  CHECK(DecodeCode("") == kNotJson);
  CHECK(DecodeCode("{") == kNotJson);
  CHECK(DecodeCode("not json") == kNotJson);
  CHECK(DecodeCode(R"({"id":"1"} trailing)") == kNotJson);
  CHECK(DecodeCode("[1,2]") == kNotJson);
  CHECK(DecodeCode(R"("string")") == kNotJson);
  CHECK(DecodeCode("{\"id\":\"\xff\xfe\"}") == kNotJson);  // invalid UTF-8
  CHECK(DecodeCode(std::string("{\"id\":\"a\0b\"}", 12)) == kNotJson);
  CHECK(DecodeCode(R"({"params":{}})") == kParamError);  // no id
  CHECK(DecodeCode(R"({"id":true})") == kParamError);
  CHECK(DecodeCode(R"({"id":{"x":1}})") == kParamError);
  CHECK(DecodeCode(R"({"id":"1","method":5})") == kParamError);
  CHECK(DecodeCode(R"({"id":"1","version":[]})") == kParamError);
}

TEST_CASE("Envelope: oversize payloads are refused before parsing with 460", "[alink][envelope]") {
  std::string big = R"({"id":"1","params":{"s":")";
  big.append(alink::kMaxPayloadBytes, 'x');
  big += "\"}}";
  auto r = alink::DecodeRequest(big);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == alink::Errc::kPayloadTooLarge);
  CHECK(alink::AlinkCode(r.error()) == iot::codes::kParamError);
}

TEST_CASE("Envelope: deep nesting is refused cheaply with 460 \"JSON nested deeper than 64\"",
          "[alink][envelope]") {
  SECTION("10,000 nested arrays") {
    const std::string deep =
        R"({"id":"1","params":)" + std::string(10000, '[') + std::string(10000, ']') + "}";
    auto r = alink::DecodeRequest(deep);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == alink::Errc::kTooDeep);
    CHECK(alink::AlinkCode(r.error()) == iot::codes::kParamError);
    CHECK(r.error().message() == "JSON nested deeper than 64");
    CHECK(r.error().message() == iot::JsonTooDeepMessage());
  }
  SECTION("unterminated nesting") {
    auto r = alink::DecodeRequest(std::string(200000, '{'));
    REQUIRE_FALSE(r.has_value());
  }
  SECTION("exactly the limit is fine") {
    // The envelope object is level 1, so params may nest kMaxJsonDepth - 1 levels.
    const auto n = alink::kMaxJsonDepth - 1;
    const std::string ok = R"({"id":"1","params":)" + std::string(n, '[') + std::string(n, ']') + "}";
    CHECK(alink::DecodeRequest(ok).has_value());
    const std::string over =
        R"({"id":"1","params":)" + std::string(n + 1, '[') + std::string(n + 1, ']') + "}";
    CHECK_FALSE(alink::DecodeRequest(over).has_value());
  }
}

TEST_CASE("Envelope: replies echo the id as a properly escaped JSON string", "[alink][envelope]") {
  const std::string id = "a\"b\\c\n\x01\xE4\xB8\xAD";
  const auto text = alink::BuildReply(id, 460, "thing.event.property.post");
  const auto parsed = json::parse(text);
  CHECK(parsed["id"] == id);
  CHECK(parsed["code"] == 460);
  CHECK(parsed["message"] == "request parameter error");
  CHECK(parsed["data"] == json::object());
  CHECK(parsed["version"] == "1.0");
  // Invalid UTF-8 from a caller never produces invalid JSON.
  const auto bad = alink::BuildReply("x\xff", 200, "m");
  CHECK(json::parse(bad)["id"] == "x\xEF\xBF\xBD");
}

TEST_CASE("Envelope: replies carry data and message, keys in Alink order", "[alink][envelope]") {
  const json data = {{"LightSwitch", "tsl parse: params not exist"}};
  const auto text = alink::BuildReply("1", 200, "thing.event.property.post", data, "success");
  CHECK(text == R"({"id":"1","code":200,"data":{"LightSwitch":"tsl parse: params not exist"},)"
                R"("message":"success","method":"thing.event.property.post","version":"1.0"})");
  const json bad_utf8 = {{"k", "\xff"}};
  CHECK_NOTHROW(json::parse(alink::BuildReply("1", 200, "m", bad_utf8, "x")));
}

TEST_CASE("Envelope: downlink requests", "[alink][envelope]") {
  const auto text = alink::BuildRequest("105917531", "thing.service.SetWeight", {{"NewWeight", 100.8}});
  CHECK(
      text ==
      R"({"id":"105917531","version":"1.0","params":{"NewWeight":100.8},"method":"thing.service.SetWeight"})");
  auto back = alink::DecodeRequest(text);
  REQUIRE(back.has_value());
  CHECK(back->method == "thing.service.SetWeight");
  CHECK((*back->params)["NewWeight"] == 100.8);
}

TEST_CASE("Envelope: device replies to downlink and RRPC decode", "[alink][envelope]") {
  auto r = alink::DecodeReply(
      R"({"id":"105917531","code":200,"data":{"OldWeight":100.101,"CollectTime":"1536228947682"}})");
  REQUIRE(r.has_value());
  CHECK(r->id == "105917531");
  CHECK(r->code == 200);
  CHECK((*r->data)["OldWeight"] == 100.101);
  CHECK(r->message.empty());

  auto err = alink::DecodeReply(R"({"id":7,"code":460,"message":"bad input"})");
  REQUIRE(err.has_value());
  CHECK(err->id == "7");
  CHECK(err->code == 460);
  CHECK(err->message == "bad input");
  CHECK(err->data->is_null());

  auto ota = alink::DecodeReply(R"({"id":"1","code":"1000","data":{"size":1}})");
  REQUIRE(ota.has_value());
  CHECK(ota->code == 1000);

  for (const auto* bad : {R"({"id":"1"})", R"({"id":"1","code":"x"})", R"({"id":"1","code":1.5})",
                          R"({"id":"1","code":99999999999})", R"({"code":200})", "[]", "{"}) {
    INFO(bad);
    CHECK_FALSE(alink::DecodeReply(bad).has_value());
  }
}

TEST_CASE("NTP: the reply uses the type the device used", "[alink][envelope][ntp]") {
  auto s = alink::DecodeNtpRequest(R"({"deviceSendTime":"100"})");
  REQUIRE(s.has_value());
  CHECK(s->as_string);
  CHECK(alink::BuildNtpResponse(*s, 1010, 1015) ==
        R"({"deviceSendTime":"100","serverRecvTime":"1010","serverSendTime":"1015"})");

  auto n = alink::DecodeNtpRequest(R"({"deviceSendTime":1700000000123})");
  REQUIRE(n.has_value());
  CHECK_FALSE(n->as_string);
  CHECK(alink::BuildNtpResponse(*n, 1700000000200, 1700000000201) ==
        R"({"deviceSendTime":1700000000123,"serverRecvTime":1700000000200,"serverSendTime":1700000000201})");

  CHECK_FALSE(alink::DecodeNtpRequest("{}").has_value());
  CHECK_FALSE(alink::DecodeNtpRequest(R"({"deviceSendTime":null})").has_value());
  CHECK_FALSE(alink::DecodeNtpRequest("x").has_value());
}

#include "iot/device/protocol.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include <catch2/catch.hpp>

using namespace iot::device;
using nlohmann::json;

TEST_CASE("Protocol: device topics and subscriptions", "[device][protocol]") {
  DeviceTopics t("a1Prod", "lamp-1");
  CHECK(t.PropertyPost() == "/sys/a1Prod/lamp-1/thing/event/property/post");
  CHECK(t.EventPost("Alarm") == "/sys/a1Prod/lamp-1/thing/event/Alarm/post");
  CHECK(t.DesiredGet() == "/sys/a1Prod/lamp-1/thing/property/desired/get");
  CHECK(t.DesiredDelete() == "/sys/a1Prod/lamp-1/thing/property/desired/delete");
  CHECK(t.DslTemplateGet() == "/sys/a1Prod/lamp-1/thing/dsltemplate/get");
  CHECK(t.NtpRequest() == "/ext/ntp/a1Prod/lamp-1/request");
  auto subs = t.Subscriptions();
  CHECK(std::find(subs.begin(), subs.end(), "/sys/a1Prod/lamp-1/rrpc/request/+") != subs.end());
  CHECK(subs.back() == "/ext/ntp/a1Prod/lamp-1/response");  // subscribed at QoS 0
  CHECK(std::find(subs.begin(), subs.end(), "/shadow/get/a1Prod/lamp-1") != subs.end());
  CHECK(t.ShadowUpdate() == "/shadow/update/a1Prod/lamp-1");
  CHECK(t.OtaFirmwareGet() == "/sys/a1Prod/lamp-1/thing/ota/firmware/get");
  CHECK(std::find(subs.begin(), subs.end(), "/sys/a1Prod/lamp-1/thing/ota/firmware/get_reply") != subs.end());
}

TEST_CASE("Protocol: shadow messages", "[device][protocol]") {
  CHECK(json::parse(BuildShadowRequest("update", {{"reported", {{"a", 1}}}}, 3)) ==
        json::parse(R"({"method":"update","state":{"reported":{"a":1}},"version":3})"));
  CHECK(json::parse(BuildShadowRequest("get", nullptr, std::nullopt)) == json::parse(R"({"method":"get"})"));
  ShadowReply ok;
  REQUIRE(ParseShadowMessage(R"({"method":"reply","payload":{"status":"success","version":4},"timestamp":9})",
                             ok));
  CHECK(ok.code == 200);
  CHECK(ok.version == 4);
  CHECK(ok.timestamp == 9);
  ShadowReply doc;
  REQUIRE(ParseShadowMessage(
      R"({"method":"control","payload":{"status":"success","state":{"desired":{"c":"g"}},"metadata":{}},"version":5,"timestamp":9})",
      doc));
  CHECK(doc.method == "control");
  CHECK(doc.state["desired"]["c"] == "g");
  CHECK(doc.version == 5);
  ShadowReply error;
  REQUIRE(ParseShadowMessage(
      R"({"method":"reply","payload":{"status":"error","content":{"errorcode":"409","errormessage":"conflict"}},"timestamp":9})",
      error));
  CHECK(error.code == 409);
  CHECK(error.message == "conflict");
  ShadowReply numeric;
  REQUIRE(ParseShadowMessage(R"({"method":"reply","payload":{"status":"error","content":{"errorcode":408}}})",
                             numeric));
  CHECK(numeric.code == 408);
  ShadowReply bad;
  CHECK_FALSE(ParseShadowMessage("[]", bad));
  CHECK_FALSE(ParseShadowMessage(R"({"method":"reply"})", bad));
  CHECK_FALSE(ParseShadowMessage("{oops", bad));
}

TEST_CASE("Protocol: refusals in this platform's and in Alibaba's reply format", "[device][protocol]") {
  auto ours = ParseRefusals(json::parse(R"({"Temp":{"code":6306,"message":"Temp: not an int"}})"));
  REQUIRE(ours.size() == 1);
  CHECK(ours[0].identifier == "Temp");
  CHECK(ours[0].code == 6306);
  CHECK(ours[0].message == "Temp: not an int");
  auto alibaba = ParseRefusals(json::parse(R"({"RGB":"tsl parse: params not exist"})"));
  REQUIRE(alibaba.size() == 1);
  CHECK(alibaba[0].code == 0);
  CHECK(alibaba[0].message == "tsl parse: params not exist");
  CHECK(ParseRefusals(json::parse(R"({"x":{"value":1},"y":[1]})")).empty());
  CHECK(ParseRefusals(json::array()).empty());
}

TEST_CASE("Protocol: reply payloads", "[device][protocol]") {
  Reply r;
  REQUIRE(ParseReplyPayload(
      R"({"id":"12","code":200,"data":{"L":{"code":6310,"message":"m"}},"message":"success"})", true, r));
  CHECK(r.id == "12");
  CHECK(r.code == 200);
  CHECK(r.refusals.size() == 1);
  Reply not_post;
  REQUIRE(
      ParseReplyPayload(R"({"id":"13","code":200,"data":{"T":{"value":1,"version":2}}})", false, not_post));
  CHECK(not_post.refusals.empty());
  CHECK(not_post.data["T"]["version"] == 2);
  Reply bad;
  CHECK_FALSE(ParseReplyPayload("not json", true, bad));
  CHECK_FALSE(ParseReplyPayload(R"({"code":200})", true, bad));
}

TEST_CASE("Protocol: NTP request - response in either type - the time computation", "[device][protocol]") {
  CHECK(json::parse(BuildNtpRequest(100)) == json{{"deviceSendTime", "100"}});
  auto s = ParseNtpResponse(R"({"deviceSendTime":"100","serverRecvTime":"1010","serverSendTime":"1015"})");
  REQUIRE(s);
  auto n = ParseNtpResponse(R"({"deviceSendTime":100,"serverRecvTime":1010,"serverSendTime":1015})");
  REQUIRE(n);
  CHECK(n->server_send_ms == 1015);
  CHECK_FALSE(ParseNtpResponse(R"({"deviceSendTime":"x","serverRecvTime":1,"serverSendTime":1})"));
  CHECK_FALSE(ParseNtpResponse(R"({"deviceSendTime":"1"})"));
  // (1010 + 1015 + 130 - 100) / 2 = 1027: the server's clock at the moment the answer arrived.
  TimeSync t = ComputeTimeSync(*s, 130);
  CHECK(t.ok());
  CHECK(t.server_time_ms == 1027);
  CHECK(t.offset_ms == 897);
  CHECK(t.round_trip == std::chrono::milliseconds(30));
}

TEST_CASE("Protocol: remote configuration topics and the downloaded file's check", "[device][protocol]") {
  DeviceTopics t("a1Prod", "lamp-1");
  CHECK(t.ConfigGet() == "/sys/a1Prod/lamp-1/thing/config/get");
  auto subs = t.Subscriptions();
  CHECK(std::find(subs.begin(), subs.end(), "/sys/a1Prod/lamp-1/thing/config/get_reply") != subs.end());
  CHECK(std::find(subs.begin(), subs.end(), "/sys/a1Prod/lamp-1/thing/config/push") != subs.end());

  const std::string file = R"({"interval":30})";
  // printf '{"interval":30}' | sha256sum
  iot::alink::ConfigFile config{"id", 15, "4d984ea50aadda81e8c29663ff923d0c3a002cb533ea379f35f8b6a7d3f53124",
                                "u"};
  CHECK(ConfigFileMatches(config, file));
  std::string upper = config.sign;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  CHECK(ConfigFileMatches({"id", 15, upper, "u"}, file));
  CHECK_FALSE(ConfigFileMatches(config, R"({"interval":31})"));  // same size, other bytes
  CHECK_FALSE(ConfigFileMatches(config, file + " "));            // other size
  CHECK_FALSE(ConfigFileMatches({"id", 15, "", "u"}, file));
}

TEST_CASE("Protocol: a gateway's topics and subscriptions", "[device][protocol][gateway]") {
  DeviceTopics t("gwProd", "gw-1");
  CHECK(t.TopoAdd() == "/sys/gwProd/gw-1/thing/topo/add");
  CHECK(t.TopoDelete() == "/sys/gwProd/gw-1/thing/topo/delete");
  CHECK(t.TopoGet() == "/sys/gwProd/gw-1/thing/topo/get");
  CHECK(t.PackPost() == "/sys/gwProd/gw-1/thing/event/property/pack/post");
  CHECK(t.Session(iot::alink::TopicKind::kSessionLogin) == "/ext/session/gwProd/gw-1/combine/login");
  CHECK(t.Session(iot::alink::TopicKind::kSessionBatchLogout) ==
        "/ext/session/gwProd/gw-1/combine/batch_logout");
  const auto subs = t.GatewaySubscriptions();
  auto has = [&](const std::string& f) { return std::find(subs.begin(), subs.end(), f) != subs.end(); };
  // The sub-devices' downlinks and post replies with `+` in their place, never the own form twice.
  CHECK(has("/sys/+/+/thing/service/property/set"));
  CHECK(has("/sys/+/+/rrpc/request/+"));
  CHECK(has("/sys/+/+/thing/event/+/post_reply"));
  CHECK(has("/sys/+/+/thing/enable"));
  CHECK(has("/sys/gwProd/gw-1/thing/topo/add_reply"));
  CHECK(has("/sys/gwProd/gw-1/thing/event/property/pack/post_reply"));
  CHECK_FALSE(has("/sys/gwProd/gw-1/thing/service/property/set"));
  CHECK(has("/shadow/get/gwProd/gw-1"));
  CHECK(subs.back() == "/ext/ntp/gwProd/gw-1/response");
  CHECK(subs.size() == t.Subscriptions().size() + 7);
}

TEST_CASE("Protocol: a sub-device's signed credentials verify with its secret",
          "[device][protocol][gateway]") {
  SubDeviceIdentity sub{"subProd", "sensor-7", "0123456789abcdef", iot::alink::SignMethod::kHmacSha1};
  const json topo = SubDeviceSignParams(sub, 1700000000123, false);
  CHECK(topo["clientId"] == "subProd.sensor-7");
  CHECK(topo["timestamp"] == "1700000000123");
  CHECK(topo["signmethod"] == "hmacsha1");  // the C SDK's spelling in thing.topo.add
  CHECK_FALSE(topo.contains("cleanSession"));
  auto decoded = iot::alink::DecodeSubDeviceSign(topo);
  REQUIRE(decoded.has_value());
  CHECK(iot::alink::VerifySubDeviceSign(*decoded, "0123456789abcdef").has_value());
  CHECK_FALSE(iot::alink::VerifySubDeviceSign(*decoded, "another-secret").has_value());

  sub.sign_method = iot::alink::SignMethod::kHmacSha256;
  const json login = SubDeviceSignParams(sub, 1700000000123, true);
  CHECK(login["signMethod"] == "hmacsha256");
  CHECK(login["cleanSession"] == "true");
  auto decoded_login = iot::alink::DecodeSubDeviceSign(login);
  REQUIRE(decoded_login.has_value());
  CHECK(decoded_login->sign_method == iot::alink::SignMethod::kHmacSha256);
  CHECK(iot::alink::VerifySubDeviceSign(*decoded_login, "0123456789abcdef").has_value());
}

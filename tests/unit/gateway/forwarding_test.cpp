// Forwarding in the gateway without I/O: rules compiled from the store's rows, the routing of handled
// messages into outbox messages (reference forwarded formats, filters, kinds, products), and the
// webhook's body, signature and status classes.
#include "forwarding.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "forwarder.hpp"
#include "handler_fixture.hpp"

namespace iot::gateway {
namespace {

namespace t = testing;
using nlohmann::json;

constexpr const char* kPost = "/sys/a1Prod/dev1/thing/event/property/post";

RouteRule Rule(std::int64_t id, std::vector<std::string> kinds, std::string filter = "",
               std::optional<std::string> product = std::nullopt) {
  store::ForwardRule row;
  row.id = id;
  row.kinds = std::move(kinds);
  row.filter = std::move(filter);
  row.product_key = std::move(product);
  std::string error;
  auto rule = CompileRule(row, error);
  INFO(error);
  REQUIRE(rule);
  return *rule;
}

// The rules live in a base constructed before the handler that points to them.
struct RulesHolder {
  ForwardRules rules;
};

struct Fixture : RulesHolder, t::HandlerFixture {
  explicit Fixture(std::vector<RouteRule> list) : RulesHolder(), HandlerFixture(Settings(rules)) {
    rules.Replace(std::move(list));
  }
  static HandlerSettings Settings(const ForwardRules& r) {
    HandlerSettings s;
    s.rate_per_second = 1000;
    s.forward_rules = &r;
    return s;
  }
};

std::vector<store::ForwardMessage> Forwarded(const Work& w) {
  REQUIRE(w.telemetry);
  return w.telemetry->forward;
}

TEST_CASE("Forwarding rules: kinds and filters are compiled, bad ones refused", "[gateway][forwarding]") {
  store::ForwardRule row;
  row.id = 7;
  row.kinds = {"property", "status", "alarm"};
  std::string error;
  auto rule = CompileRule(row, error);
  REQUIRE(rule);
  CHECK(rule->Wants(ForwardKind::kProperty));
  CHECK(rule->Wants(ForwardKind::kStatus));
  CHECK_FALSE(rule->Wants(ForwardKind::kEvent));
  CHECK(rule->Wants(ForwardKind::kAlarm));
  row.kinds = {"ota"};
  REQUIRE(CompileRule(row, error));
  CHECK(CompileRule(row, error)->Wants(ForwardKind::kOta));
  row.kinds = {"lifecycle"};
  CHECK(CompileRule(row, error)->Wants(ForwardKind::kLifecycle));
  row.kinds = {"topology"};
  CHECK_FALSE(CompileRule(row, error));
  CHECK(error == "no kind this gateway forwards");
  row.kinds = {"event"};
  row.filter = "Temp >";
  CHECK_FALSE(CompileRule(row, error));
  CHECK(error == "filter: column 7: expected an operand, found the end of text");
}

TEST_CASE("Forwarding: a platform without rules routes nothing - the handler waits for the rules",
          "[gateway][forwarding]") {
  Fixture f({});
  Work w = f.Run(kPost, R"({"id":"1","params":{"RunCount":5}})");
  CHECK(w.telemetry->forward.empty());
  ForwardRules unloaded;
  t::HandlerFixture g(Fixture::Settings(unloaded));
  Work none;
  CHECK(g.handler->Handle(InboundMessage{kPost, R"({"id":"1","params":{}})", t::kNow}, t::kNow, none) ==
        HandleStatus::kRetry);
}

TEST_CASE("Forwarding: a property post becomes the reference's forwarded property message",
          "[gateway][forwarding]") {
  Fixture f({Rule(1, {"property"}), Rule(2, {"event"}), Rule(3, {"property"}, "", "a1Other")});
  Work w =
      f.Run(kPost,
            R"({"id":"42","params":{"RunCount":5,"Humidity":{"value":40.5,"time":1699999999000},"Nope":1}})");
  const auto forwarded = Forwarded(w);
  REQUIRE(forwarded.size() == 1);
  CHECK(forwarded[0].rule_ids == std::vector<std::int64_t>{1});
  CHECK(forwarded[0].kind == "property");
  CHECK(forwarded[0].topic == "/a1Prod/dev1/thing/event/property/post");
  // The device's identity rides along: the store packs identified messages (024_outbox_packs.sql).
  CHECK(forwarded[0].product_key == "a1Prod");
  CHECK(forwarded[0].device_name == "dev1");
  CHECK(forwarded[0].iot_id == "iot-dev1");
  json body = json::parse(forwarded[0].payload_json);
  CHECK(body["requestId"] == "42");
  CHECK(body["productKey"] == "a1Prod");
  CHECK(body["deviceName"] == "dev1");
  CHECK(body["gmtCreate"] == t::kNow - 5);
  CHECK(body["items"]["RunCount"]["value"] == 5);
  CHECK(body["items"]["Humidity"] == json{{"value", 40.5}, {"time", 1699999999000}});
  // Weak validation: the refused identifier rides along in checkFailedData.
  CHECK(body["checkFailedData"]["Nope"]["code"].is_number_integer());
  CHECK(body["checkFailedData"]["Nope"]["value"] == 1);
}

TEST_CASE("Forwarding: filters read the post's values, a missing one is false", "[gateway][forwarding]") {
  Fixture f({Rule(1, {"property"}, "RunCount > 3 && Humidity < 50"), Rule(2, {"property"}, "!(Humidity > 1)"),
             Rule(3, {"property"}, "Position.Lat > 10")});
  auto ids = [&](const std::string& params) {
    Work w = f.Run(kPost, R"({"id":"1","params":)" + params + "}");
    std::vector<std::int64_t> out;
    for (const auto& m : Forwarded(w)) {
      out.insert(out.end(), m.rule_ids.begin(), m.rule_ids.end());
    }
    return out;
  };
  CHECK(ids(R"({"RunCount":5,"Humidity":20})") == std::vector<std::int64_t>{1});
  CHECK(ids(R"({"RunCount":2,"Humidity":20})").empty());
  CHECK(ids(R"({"RunCount":5})") == std::vector<std::int64_t>{2});  // Humidity missing
  CHECK(ids(R"({"Position":{"Lat":20.5,"Lng":1,"Fix":1,"Valid":1,"Ts":"1","Note":"n","Sats":3}})") ==
        std::vector<std::int64_t>{2, 3});
}

TEST_CASE("Forwarding: events, history posts and a batch post's repeated samples", "[gateway][forwarding]") {
  Fixture f({Rule(1, {"event"}, "event.type == 'alert' && Level < 20"), Rule(2, {"history"}),
             Rule(3, {"property"})});
  Work e =
      f.Run("/sys/a1Prod/dev1/thing/event/LowBattery/post",
            R"({"id":"9","params":{"value":{"Level":10,"Since":"1700000000000"},"time":1699999999001}})");
  auto events = Forwarded(e);
  REQUIRE(events.size() == 1);
  CHECK(events[0].topic == "/a1Prod/dev1/thing/event/LowBattery/post");
  json body = json::parse(events[0].payload_json);
  CHECK(body["identifier"] == "LowBattery");
  CHECK(body["type"] == "alert");
  CHECK(body["value"]["Level"] == 10);
  CHECK(body["time"] == 1699999999001);
  Work high = f.Run("/sys/a1Prod/dev1/thing/event/LowBattery/post",
                    R"({"id":"10","params":{"value":{"Level":50,"Since":"1"}}})");
  CHECK(Forwarded(high).empty());

  Work h = f.Run(
      "/sys/a1Prod/dev1/thing/event/property/history/post",
      R"({"id":"11","params":[{"identity":{"productKey":"a1Prod","deviceName":"dev1"},)"
      R"("properties":[{"RunCount":{"value":1,"time":1699999990000}},{"RunCount":{"value":2,"time":1699999999000}}]}]})");
  auto history = Forwarded(h);
  REQUIRE(history.size() == 2);  // RunCount twice: one forwarded message each, in order
  CHECK(history[0].topic == "/a1Prod/dev1/thing/event/property/history/post");
  CHECK(history[0].rule_ids == std::vector<std::int64_t>{2});
  CHECK(json::parse(history[0].payload_json)["items"]["RunCount"]["value"] == 1);
  CHECK(json::parse(history[1].payload_json)["items"]["RunCount"]["value"] == 2);

  Work b = f.Run(
      "/sys/a1Prod/dev1/thing/event/property/batch/post",
      R"({"id":"12","params":{"properties":{"RunCount":[{"value":1,"time":1699999990000},{"value":2,"time":1699999999000}]}}})");
  auto batch = Forwarded(b);
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].kind == "property");
}

TEST_CASE("Forwarding: a pack post's parts are forwarded as each device's own property posts",
          "[gateway][forwarding][pack]") {
  Fixture f({Rule(1, {"property"}), Rule(2, {"property"}, "RunCount > 6")});
  f.source.devices["a1Prod/sub0001"] = DeviceEntry{21, true, "a1Prod", "dev1", "iot-sub1"};
  f.source.devices["a1Prod/sub0002"] = DeviceEntry{22, true, "a1Prod", "dev1"};
  const json sub1 = {{"identity", {{"productKey", "a1Prod"}, {"deviceName", "sub0001"}}},
                     {"properties", {{"RunCount", 6}}}};
  const json sub2 = {{"identity", {{"productKey", "a1Prod"}, {"deviceName", "sub0002"}}},
                     {"properties", {{"RunCount", 7}}}};
  Work w =
      f.Run("/sys/a1Prod/dev1/thing/event/property/pack/post",
            json{{"id", "p1"},
                 {"params", {{"properties", {{"RunCount", 5}}}, {"subDevices", json::array({sub1, sub2})}}}}
                .dump());
  REQUIRE(w.reply);
  REQUIRE(w.reply->code == 200);
  const auto own = Forwarded(w);
  REQUIRE(own.size() == 1);
  CHECK(own[0].topic == "/a1Prod/dev1/thing/event/property/post");
  REQUIRE(w.parts.size() == 2);
  REQUIRE(w.parts[0].forward.size() == 1);
  CHECK(w.parts[0].forward[0].rule_ids == std::vector<std::int64_t>{1});
  CHECK(w.parts[0].forward[0].topic == "/a1Prod/sub0001/thing/event/property/post");
  CHECK(w.parts[0].forward[0].device_name == "sub0001");
  CHECK(w.parts[0].forward[0].iot_id == "iot-sub1");  // the sub-device's, not the gateway's
  CHECK(own[0].iot_id == "iot-dev1");
  const json body = json::parse(w.parts[0].forward[0].payload_json);
  CHECK(body["deviceName"] == "sub0001");
  CHECK(body["requestId"] == "p1");
  CHECK(body["items"]["RunCount"]["value"] == 6);
  REQUIRE(w.parts[1].forward.size() == 1);
  CHECK(w.parts[1].forward[0].rule_ids == std::vector<std::int64_t>{1, 2});  // the filter reads the part
  CHECK(w.parts[1].forward[0].topic == "/a1Prod/sub0002/thing/event/property/post");
}

TEST_CASE("Forwarding: a device going online becomes a status message", "[gateway][forwarding]") {
  Fixture f({Rule(1, {"status"}, "status == 'online'")});
  const std::string online =
      R"({"status":"online","productKey":"a1Prod","deviceName":"dev1","time":"2024-01-01 00:00:00.000",)"
      R"("utcTime":"2024-01-01T00:00:00.000Z","lastTime":"2024-01-01 00:00:00.000",)"
      R"("utcLastTime":"2024-01-01T00:00:00.000Z","clientIp":"10.0.0.1","seq":7})";
  Work w = f.Run("/as/mqtt/status/a1Prod/dev1", online);
  const auto* op = std::get_if<LifecycleOp>(&w.op);
  REQUIRE(op);
  REQUIRE(op->event.forward.size() == 1);
  CHECK(op->event.forward[0].topic == "/as/mqtt/status/a1Prod/dev1");
  json body = json::parse(op->event.forward[0].payload_json);
  CHECK(body["status"] == "online");
  CHECK(body["clientIp"] == "10.0.0.1");
  CHECK(body["utcLastTime"] == "2024-01-01T00:00:00.000Z");
  CHECK_FALSE(body.contains("seq"));
  std::string offline = online;
  offline.replace(offline.find("online"), 6, "offline");
  offline.replace(offline.find("\"seq\":7"), 7, "\"seq\":8");
  Work off = f.Run("/as/mqtt/status/a1Prod/dev1", offline);
  CHECK(std::get_if<LifecycleOp>(&off.op)->event.forward.empty());
}

TEST_CASE("Forwarding: a device reply becomes a downlink reply message, a custom-topic message its own",
          "[gateway][forwarding]") {
  Fixture f({Rule(1, {"reply"}, "code == 200"), Rule(2, {"message"}, "Temp > 40"), Rule(3, {"message"})});
  Work w = f.Run("/sys/a1Prod/dev1/thing/service/property/set_reply", R"({"id":"99","code":200,"data":{}})");
  const auto* reply = std::get_if<ServiceReplyOp>(&w.op);
  REQUIRE(reply);
  REQUIRE(reply->forward.size() == 1);
  CHECK(reply->forward[0].kind == "reply");
  CHECK(reply->forward[0].rule_ids == std::vector<std::int64_t>{1});
  CHECK(reply->forward[0].topic == "/a1Prod/dev1/thing/downlink/reply/message");
  json body = json::parse(reply->forward[0].payload_json);
  CHECK(body["requestId"] == "99");
  CHECK(body["code"] == 200);
  CHECK(body["topic"] == "/sys/a1Prod/dev1/thing/service/property/set_reply");
  CHECK(body["data"] == json::object());
  CHECK(body["productKey"] == "a1Prod");
  // code != 200: the filter leaves it out.
  Work failed =
      f.Run("/sys/a1Prod/dev1/thing/service/property/set_reply", R"({"id":"100","code":460,"data":{}})");
  REQUIRE(std::get_if<ServiceReplyOp>(&failed.op));
  CHECK(std::get_if<ServiceReplyOp>(&failed.op)->forward.empty());

  Work hot = f.Run("/a1Prod/dev1/user/update", R"({"Temp":41})");
  const auto* message = std::get_if<UserMessageOp>(&hot.op);
  REQUIRE(message);
  REQUIRE(message->forward.size() == 1);
  CHECK(message->forward[0].rule_ids == std::vector<std::int64_t>{2, 3});
  CHECK(message->forward[0].topic == "/a1Prod/dev1/user/update");
  body = json::parse(message->forward[0].payload_json);
  CHECK(body["payloadEncoding"] == "json");
  CHECK(body["payload"] == json{{"Temp", 41}});
  Work raw = f.Run("/a1Prod/dev1/user/update", std::string("\x01\x02\xff", 3));
  message = std::get_if<UserMessageOp>(&raw.op);
  REQUIRE(message);
  REQUIRE(message->forward.size() == 1);
  CHECK(message->forward[0].rule_ids == std::vector<std::int64_t>{3});
  body = json::parse(message->forward[0].payload_json);
  CHECK(body["payloadEncoding"] == "base64");
  CHECK(body["payload"] == "AQL/");
}

TEST_CASE("Webhook: body, signature and the status classes", "[gateway][forwarding]") {
  store::OutboxMessage m;
  m.topic = "/a1Prod/dev1/thing/event/property/post";
  m.message_id = "17";
  m.product_key = "a1Prod";
  m.device_name = "dev1";
  m.iot_id = "iot-1";
  m.payload_json = R"({"items":{"A":{"value":1,"time":2}}})";
  const std::string body = WebhookBody({m, m});
  json parsed = json::parse(body);
  REQUIRE(parsed.size() == 2);
  CHECK(parsed[0] == json{{"topic", m.topic},
                          {"messageId", "17"},
                          {"productKey", "a1Prod"},
                          {"deviceName", "dev1"},
                          {"iotId", "iot-1"},
                          {"payload", {{"items", {{"A", {{"value", 1}, {"time", 2}}}}}}}});
  // HMAC-SHA256("key", "1700000000000.[]"), computed independently with openssl dgst.
  CHECK(WebhookSignature("key", "1700000000000", "[]") ==
        "sha256=e869d90897a66afb8fc5996e8d632649b165d0b3ee927d1a05308ca940702934");
  CHECK(WebhookSignature("key", "1", "[]") != WebhookSignature("key", "2", "[]"));
  CHECK(OutcomeOfStatus(200) == Delivery::Outcome::kDelivered);
  CHECK(OutcomeOfStatus(204) == Delivery::Outcome::kDelivered);
  CHECK(OutcomeOfStatus(429) == Delivery::Outcome::kRetry);
  CHECK(OutcomeOfStatus(408) == Delivery::Outcome::kRetry);
  CHECK(OutcomeOfStatus(500) == Delivery::Outcome::kRetry);
  CHECK(OutcomeOfStatus(503) == Delivery::Outcome::kRetry);
  CHECK(OutcomeOfStatus(302) == Delivery::Outcome::kRetry);
  CHECK(OutcomeOfStatus(400) == Delivery::Outcome::kRefused);
  CHECK(OutcomeOfStatus(404) == Delivery::Outcome::kRefused);
  auto broken = MakeDestinations(R"([{"type":"amqp"}])", std::chrono::milliseconds(100));
  REQUIRE(broken.size() == 1);
  CHECK(broken[0]->Deliver({m}).outcome == Delivery::Outcome::kRetry);
}

TEST_CASE("AMQP and MQTT destinations: routing keys, broker URLs, unusable destinations",
          "[gateway][forwarding]") {
  CHECK(AmqpRoutingKey("/a1Prod/dev1/thing/event/property/post") == "a1Prod.dev1.thing.event.property.post");
  CHECK(AmqpRoutingKey("/as/mqtt/status/a1Prod/dev1") == "as.mqtt.status.a1Prod.dev1");
  CHECK(AmqpRoutingKey("") == "");
  CHECK(AmqpRoutingKey("/" + std::string(300, 'x')).size() == 255);

  // The AMQP 1.0 application-properties section, byte for byte: described 0x74, map32 of 3 pairs.
  const std::string app = Amqp10AppProperties("t", "m", 1);
  CHECK(app.size() == 74);
  CHECK(app.substr(0, 12) == std::string("\x00\x53\x74\xd1\x00\x00\x00\x42\x00\x00\x00\x06", 12));
  CHECK(app.substr(12, 10) == std::string("\xb1\x00\x00\x00\x05topic", 10));
  CHECK(app.substr(22, 6) == std::string("\xb1\x00\x00\x00\x01t", 6));
  CHECK(app.substr(app.size() - 9) == std::string("\x81\x00\x00\x00\x00\x00\x00\x00\x01", 9));

  CHECK(MqttDestinationUri("mqtt://broker.example") == "tcp://broker.example:1883");
  CHECK(MqttDestinationUri("mqtt://broker.example:1884/") == "tcp://broker.example:1884");
  CHECK(MqttDestinationUri("mqtts://broker.example") == "ssl://broker.example:8883");
  CHECK(MqttDestinationUri("ssl://10.0.0.1:8884") == "ssl://10.0.0.1:8884");
  CHECK(MqttDestinationUri("tcp://[::1]") == "tcp://[::1]:1883");
  CHECK(MqttDestinationUri("tcp://[::1]:1999") == "tcp://[::1]:1999");
  CHECK_FALSE(MqttDestinationUri("http://broker.example"));
  CHECK_FALSE(MqttDestinationUri("mqtt://"));
  CHECK_FALSE(MqttDestinationUri("mqtt://:1883"));
  CHECK_FALSE(MqttDestinationUri("mqtt://user@broker"));
  CHECK_FALSE(MqttDestinationUri("mqtt://broker/topic"));
  CHECK_FALSE(MqttDestinationUri("mqtt://broker:port"));

  store::OutboxMessage m;
  m.topic = "/a1Prod/dev1/thing/event/property/post";
  m.payload_json = "{}";
  // Unusable ones fail every delivery with the reason (retried, then dead-lettered); nothing connects.
  auto bad = MakeDestinations(R"([{"type":"amqp","url":"http://x","exchange":"e"},)"
                              R"({"type":"mqtt","url":"ftp://x","topic":"t"},{"type":"pigeon"}])",
                              std::chrono::milliseconds(100));
  REQUIRE(bad.size() == 3);
  for (auto& d : bad) {
    const auto result = d->Deliver({m});
    CHECK(result.outcome == Delivery::Outcome::kRetry);
    CHECK_FALSE(result.error.empty());
  }
  CHECK(bad[1]->Deliver({m}).error == "not an mqtt:// or mqtts:// URL");
}

}  // namespace
}  // namespace iot::gateway

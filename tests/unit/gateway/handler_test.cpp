#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"

using iot::gateway::HandlerSettings;
using iot::gateway::HandleStatus;
using iot::gateway::Work;
using iot::gateway::testing::kNow;
using nlohmann::json;
namespace gw = iot::gateway;
namespace t = iot::gateway::testing;

namespace {

HandlerSettings Settings(double rate) {
  HandlerSettings s;
  s.rate_per_second = rate;
  return s;
}

struct Fixture : t::HandlerFixture {
  explicit Fixture(iot::tsl::Mode mode = iot::tsl::Mode::kWeak, double rate = 1000)
      : HandlerFixture(Settings(rate), mode) {}
};

const std::string kPost = "/sys/a1Prod/dev1/thing/event/property/post";

json Data(const Work& w) { return w.reply->data; }

}  // namespace

TEST_CASE("Handler: property post stores accepted items and names each refusal in the reply",
          "[gateway][handler]") {
  Fixture f;
  Work w = f.Run(
      kPost,
      R"({"id":"7","version":"1.0","params":{"RunCount":5,"Label":0,"TargetTemp":{"value":21.5,"time":1699999990000}},"method":"thing.event.property.post"})");
  REQUIRE(w.reply);
  CHECK(w.reply->topic == kPost + "_reply");
  CHECK(w.reply->id == "7");
  CHECK(w.reply->code == 200);
  CHECK(w.reply->method == "thing.event.property.post");
  REQUIRE(Data(w).contains("Label"));
  CHECK(Data(w)["Label"]["code"] == 6310);
  CHECK(Data(w)["Label"]["message"].get<std::string>().find("Label") != std::string::npos);
  REQUIRE(w.telemetry);
  CHECK(w.telemetry->device_id == 11);
  CHECK(w.telemetry->message_id == "7");
  CHECK(w.telemetry->payload_hash != 0);
  REQUIRE(w.telemetry->properties.size() == 2);
  for (const auto& p : w.telemetry->properties) {
    CHECK(p.identifier != "Label");
    if (p.identifier == "TargetTemp") {
      CHECK(p.time == 1699999990000);  // the device's time
      CHECK(p.value_json == "21.5");
    }
  }
  REQUIRE(w.telemetry->rejections.size() == 1);
  CHECK(w.telemetry->rejections[0].identifier == "Label");
  CHECK(w.telemetry->rejections[0].code == 6310);
  CHECK(w.telemetry->rejections[0].value == "0");
}

TEST_CASE("Handler: the id is echoed byte for byte (Node SDK form)", "[gateway][handler]") {
  Fixture f;
  const std::string id = "1|exp-topic|/sys/a1Prod/dev1/thing/event/property/post_reply";
  Work w =
      f.Run(kPost, R"({"id":")" + id +
                       R"(","version":"1.0","params":{"RunCount":1},"method":"thing.event.property.post"})");
  REQUIRE(w.reply);
  CHECK(w.reply->id == id);
  CHECK(w.telemetry->message_id == id);
}

TEST_CASE("Handler: modes x faults of reference 4.2", "[gateway][handler]") {
  struct Case {
    iot::tsl::Mode mode;
    std::string params;
    std::string item;
    bool stored;
    int code;  // refusal code when not stored
  };
  using M = iot::tsl::Mode;
  const std::vector<Case> cases = {
      // (a) unknown identifier
      {M::kStrict, R"({"Nope":1})", "Nope", false, 6304},
      {M::kWeak, R"({"Nope":1})", "Nope", false, 6304},
      {M::kNone, R"({"Nope":1})", "Nope", true, 0},
      // (b) wrong data type
      {M::kStrict, R"({"RunCount":"15"})", "RunCount", false, 6306},
      {M::kWeak, R"({"RunCount":"15"})", "RunCount", false, 6306},
      {M::kNone, R"({"RunCount":"15"})", "RunCount", true, 0},
      // (c) out of range
      {M::kStrict, R"({"RunCount":2000000})", "RunCount", false, 6306},
      {M::kWeak, R"({"RunCount":2000000})", "RunCount", true, 0},
      {M::kNone, R"({"RunCount":2000000})", "RunCount", true, 0},
      // (d) unknown struct member
      {M::kStrict,
       R"({"Position":{"Lat":1,"Lng":2,"Fix":1,"Valid":1,"Ts":"1","Note":"x","Sats":3,"Extra":1}})",
       "Position", false, 0},
      {M::kWeak, R"({"Position":{"Lat":1,"Extra":1}})", "Position", false, 6304},
      {M::kNone, R"({"Position":{"Lat":1,"Extra":1}})", "Position", true, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(iot::tsl::ModeName(c.mode), c.params);
    Fixture f(c.mode);
    Work w = f.Run(kPost, R"({"id":"1","params":)" + c.params + R"(,"method":"thing.event.property.post"})");
    REQUIRE(w.reply);
    CHECK(w.reply->code == 200);
    REQUIRE(w.telemetry);
    CHECK((w.telemetry->properties.size() == 1) == c.stored);
    CHECK(Data(w).contains(c.item) == !c.stored);
    CHECK(w.telemetry->rejections.size() == (c.stored ? 0u : 1u));
    if (!c.stored && c.code != 0) {
      CHECK(Data(w)[c.item]["code"] == c.code);
    }
  }
}

TEST_CASE("Handler: request-level failures are answered with their code and stored as rejections",
          "[gateway][handler]") {
  Fixture f;
  SECTION("not JSON: 6207") {
    Work w = f.Run(kPost, "{not json");
    CHECK(w.reply->code == 6207);
    REQUIRE(w.telemetry);
    CHECK(w.telemetry->properties.empty());
    REQUIRE(w.telemetry->rejections.size() == 1);
    CHECK(w.telemetry->rejections[0].code == 6207);
  }
  SECTION("method does not match: 6300") {
    Work w = f.Run(kPost, R"({"id":"2","params":{},"method":"thing.event.foo.post"})");
    CHECK(w.reply->code == 6300);
    CHECK(w.reply->id == "2");
  }
  SECTION("params not an object: 460") {
    Work w = f.Run(kPost, R"({"id":"3","params":[1],"method":"thing.event.property.post"})");
    CHECK(w.reply->code == 460);
  }
  SECTION("more than 200 properties: 6106") {
    json params = json::object();
    for (int i = 0; i < 201; ++i) {
      params["P" + std::to_string(i)] = i;
    }
    json msg = {{"id", "4"}, {"params", params}, {"method", "thing.event.property.post"}};
    Work w = f.Run(kPost, msg.dump());
    CHECK(w.reply->code == 6106);
    CHECK(w.telemetry->properties.empty());
  }
  SECTION("unknown device: 6100, nothing stored") {
    Work w = f.Run("/sys/a1Prod/ghost/thing/event/property/post", R"({"id":"5","params":{"RunCount":1}})");
    CHECK(w.reply->code == 6100);
    CHECK_FALSE(w.telemetry);
  }
  SECTION("disabled device: 6204") {
    Work w = f.Run("/sys/a1Prod/dev2/thing/event/property/post", R"({"id":"6","params":{"RunCount":1}})");
    CHECK(w.reply->code == 6204);
    CHECK(w.telemetry->properties.empty());
    CHECK(w.telemetry->rejections.size() == 1);
  }
  SECTION("no published model in weak mode: 5159") {
    Work w = f.Run("/sys/a1NoModel/dev3/thing/event/property/post", R"({"id":"7","params":{"X":1}})");
    CHECK(w.reply->code == 5159);
    CHECK(w.telemetry->properties.empty());
  }
  CHECK(f.metrics.requests_refused.Get("6207") + f.metrics.requests_refused.Get("6300") +
            f.metrics.requests_refused.Get("460") + f.metrics.requests_refused.Get("6106") +
            f.metrics.requests_refused.Get("6100") + f.metrics.requests_refused.Get("6204") +
            f.metrics.requests_refused.Get("5159") ==
        1);
}

TEST_CASE("Handler: sys.ack 0 stores without a reply", "[gateway][handler]") {
  Fixture f;
  Work w = f.Run(kPost, R"({"id":"8","sys":{"ack":0},"params":{"RunCount":1}})");
  CHECK_FALSE(w.reply);
  REQUIRE(w.telemetry);
  CHECK(w.telemetry->properties.size() == 1);
}

TEST_CASE("Handler: event post stores with the event type - refusal answered with its own code",
          "[gateway][handler]") {
  Fixture f;
  const std::string topic = "/sys/a1Prod/dev1/thing/event/LowBattery/post";
  Work ok = f.Run(
      topic,
      R"({"id":"9","params":{"value":{"Level":3,"Since":"1699999990000"},"time":1699999990000},"method":"thing.event.LowBattery.post"})");
  CHECK(ok.reply->code == 200);
  REQUIRE(ok.telemetry->events.size() == 1);
  CHECK(ok.telemetry->events[0].identifier == "LowBattery");
  CHECK(ok.telemetry->events[0].type == "alert");
  CHECK(ok.telemetry->events[0].time == 1699999990000);

  Work bad =
      f.Run(topic, R"({"id":"10","params":{"value":{"Level":"low","Since":"1"},"time":1699999990000}})");
  CHECK(bad.reply->code == 6306);
  CHECK(bad.reply->message.find("Level") != std::string::npos);
  CHECK(Data(bad).contains("LowBattery"));
  CHECK(bad.telemetry->events.empty());
  CHECK(bad.telemetry->rejections.size() == 1);
}

TEST_CASE("Handler: history post keeps device times and refuses other devices' entries",
          "[gateway][handler]") {
  Fixture f;
  Work w = f.Run("/sys/a1Prod/dev1/thing/event/property/history/post",
                 R"({"id":"11","params":[
      {"identity":{"productKey":"a1Prod","deviceName":"dev1"},
       "properties":[{"RunCount":{"value":1,"time":1600000000000}},{"RunCount":{"value":2,"time":1600000001000},"Label":7}],
       "events":[{"Fault":{"value":{"Code":1,"Detail":"x"},"time":1600000002000}}]},
      {"identity":{"productKey":"a1Prod","deviceName":"other"},"properties":[{"RunCount":{"value":3,"time":1600000003000}}]}
    ],"method":"thing.event.property.history.post"})");
  CHECK(w.reply->code == 200);
  REQUIRE(w.telemetry->properties.size() == 2);
  CHECK(w.telemetry->properties[0].time == 1600000000000);
  CHECK(w.telemetry->properties[1].time == 1600000001000);
  REQUIRE(w.telemetry->events.size() == 1);
  CHECK(w.telemetry->events[0].type == "error");
  CHECK(w.telemetry->events[0].time == 1600000002000);
  CHECK(Data(w).contains("Label"));
  CHECK(Data(w).contains("identity"));
}

TEST_CASE("Handler: batch post stores every sample", "[gateway][handler]") {
  Fixture f;
  Work w = f.Run(
      "/sys/a1Prod/dev1/thing/event/property/batch/post",
      R"({"id":"12","params":{"properties":{"RunCount":[{"value":1,"time":1600000000000},{"value":"x","time":1600000001000}],
                    "Humidity":[{"value":50.5,"time":1600000002000}]},
                    "events":{"Fault":[{"value":{"Code":1,"Detail":"d"},"time":1600000003000}]}},
                    "method":"thing.event.property.batch.post"})");
  CHECK(w.reply->code == 200);
  CHECK(w.telemetry->properties.size() == 2);
  CHECK(w.telemetry->events.size() == 1);
  CHECK(w.telemetry->rejections.size() == 1);
  CHECK(Data(w)["RunCount"]["code"] == 6306);
}

TEST_CASE("Handler: sub-device unregister and unknown /sys topics are answered not supported",
          "[gateway][handler]") {
  Fixture f;
  Work unregister = f.Run("/sys/a1Prod/dev1/thing/sub/unregister",
                          R"({"id":"14","params":[],"method":"thing.sub.unregister"})");
  CHECK(unregister.reply->code == 6300);
  Work unknown = f.Run("/sys/a1Prod/dev1/thing/whatever", R"({"id":"15","params":{}})");
  CHECK(unknown.reply->code == 6300);
  CHECK(unknown.reply->topic == "/sys/a1Prod/dev1/thing/whatever_reply");
  CHECK(f.metrics.not_supported.load() == 2);
}

TEST_CASE("Handler: per-device rate limit answers 429 without storing", "[gateway][handler]") {
  Fixture f(iot::tsl::Mode::kWeak, 5);
  int limited = 0;
  for (int i = 0; i < 20; ++i) {
    Work w = f.Run(kPost, R"({"id":")" + std::to_string(i) + R"(","params":{"RunCount":1}})");
    if (w.reply->code == 429) {
      ++limited;
      CHECK_FALSE(w.telemetry);
    }
  }
  CHECK(limited == 15);
  CHECK(f.metrics.rate_limited.load() == 15);
  // Another device is not affected.
  f.source.devices["a1Prod/dev9"] = gw::DeviceEntry{19, true};
  Work other = f.Run("/sys/a1Prod/dev9/thing/event/property/post", R"({"id":"x","params":{"RunCount":1}})");
  CHECK(other.reply->code == 200);
}

TEST_CASE("Handler: desired get/delete - dsltemplate - tags - NTP", "[gateway][handler]") {
  Fixture f;
  SECTION("desired get") {
    Work w = f.Run("/sys/a1Prod/dev1/thing/property/desired/get",
                   R"({"id":"20","params":["PowerOn","RunCount"],"method":"thing.property.desired.get"})");
    REQUIRE(std::holds_alternative<gw::DesiredGetOp>(w.op));
    CHECK(std::get<gw::DesiredGetOp>(w.op).identifiers.size() == 2);
    CHECK(w.reply->code == 200);
  }
  SECTION("desired delete with versions") {
    Work w = f.Run(
        "/sys/a1Prod/dev1/thing/property/desired/delete",
        R"({"id":"21","params":{"PowerOn":{"version":3},"RunCount":{}},"method":"thing.property.desired.delete"})");
    REQUIRE(std::holds_alternative<gw::DesiredDeleteOp>(w.op));
    const auto& op = std::get<gw::DesiredDeleteOp>(w.op);
    REQUIRE(op.changes.size() == 2);
    for (const auto& c : op.changes) {
      if (c.identifier == "PowerOn") {
        CHECK(c.expected_version == 3);
      }
      if (c.identifier == "RunCount") {
        CHECK_FALSE(c.expected_version);
      }
    }
  }
  SECTION("dsltemplate get returns the published TSL") {
    Work w = f.Run("/sys/a1Prod/dev1/thing/dsltemplate/get",
                   R"({"id":"22","params":{},"method":"thing.dsltemplate.get"})");
    CHECK(w.reply->code == 200);
    CHECK(Data(w).contains("properties"));
    Work none = f.Run("/sys/a1NoModel/dev3/thing/dsltemplate/get", R"({"id":"23","params":{}})");
    CHECK(none.reply->code == 5159);
  }
  SECTION("tags") {
    Work w = f.Run(
        "/sys/a1Prod/dev1/thing/deviceinfo/update",
        R"({"id":"24","params":[{"attrKey":"Temperature","attrValue":"36.8"}],"method":"thing.deviceinfo.update"})");
    REQUIRE(std::holds_alternative<gw::TagsUpdateOp>(w.op));
    CHECK(std::get<gw::TagsUpdateOp>(w.op).tags.at("Temperature") == "36.8");
    Work bad = f.Run("/sys/a1Prod/dev1/thing/deviceinfo/update",
                     R"({"id":"25","params":[{"attrKey":"1bad","attrValue":"x"}]})");
    CHECK(bad.reply->code == 460);
    CHECK(std::holds_alternative<std::monostate>(bad.op));
    Work del = f.Run("/sys/a1Prod/dev1/thing/deviceinfo/delete",
                     R"({"id":"26","params":[{"attrKey":"Temperature"}]})");
    REQUIRE(std::holds_alternative<gw::TagsDeleteOp>(del.op));
    json many = json::array();
    for (int i = 0; i < 201; ++i) {
      many.push_back(json{{"attrKey", "k" + std::to_string(i)}, {"attrValue", "v"}});
    }
    for (const char* kind : {"update", "delete"}) {
      const std::string topic = std::string("/sys/a1Prod/dev1/thing/deviceinfo/") + kind;
      Work empty = f.Run(topic, R"({"id":"27","params":[]})");
      CHECK(empty.reply->code == 460);
      CHECK(empty.reply->message == "params must be a non-empty array");
      CHECK(std::holds_alternative<std::monostate>(empty.op));
      Work too_many = f.Run(topic, json{{"id", "28"}, {"params", many}}.dump());
      CHECK(too_many.reply->code == 460);
      CHECK(too_many.reply->message == "more than 200 tags");
      CHECK(std::holds_alternative<std::monostate>(too_many.op));
    }
  }
  SECTION("NTP answers in the device's number type") {
    Work w = f.Run("/ext/ntp/a1Prod/dev1/request", R"({"deviceSendTime":100})");
    REQUIRE(w.reply);
    CHECK(w.reply->topic == "/ext/ntp/a1Prod/dev1/response");
    json r = json::parse(w.reply->raw);
    CHECK(r["deviceSendTime"] == 100);
    CHECK(r["serverRecvTime"] == kNow - 5);
    CHECK(r["serverSendTime"] == kNow);
  }
}

TEST_CASE("Handler: device replies complete service calls: downlinks are ignored", "[gateway][handler]") {
  Fixture f;
  Work w = f.Run("/sys/a1Prod/dev1/thing/service/SelfTest_reply",
                 R"({"id":"105917531","code":200,"data":{"Passed":1,"Report":"ok"}})");
  REQUIRE(std::holds_alternative<gw::ServiceReplyOp>(w.op));
  const auto& op = std::get<gw::ServiceReplyOp>(w.op);
  CHECK(op.alink_id == "105917531");
  CHECK(op.device_id == 11);
  CHECK_FALSE(w.reply);
  Work bad = f.Run("/sys/a1Prod/dev1/thing/service/SelfTest_reply",
                   R"({"id":"105917532","code":200,"data":{"Passed":"yes"}})");
  REQUIRE(std::holds_alternative<gw::ServiceReplyOp>(bad.op));
  CHECK_FALSE(std::get<gw::ServiceReplyOp>(bad.op).succeeded);
  CHECK(bad.telemetry->rejections.size() == 1);
  Work set = f.Run("/sys/a1Prod/dev1/thing/service/property/set_reply", R"({"id":"5","code":200,"data":{}})");
  CHECK(std::holds_alternative<gw::ServiceReplyOp>(set.op));
  f.Run("/sys/a1Prod/dev1/thing/service/SelfTest", R"({"id":"1","params":{}})", HandleStatus::kIgnore);
  f.Run("/sys/a1Prod/dev1/thing/event/property/post_reply", R"({"id":"1","code":200})",
        HandleStatus::kIgnore);
}

TEST_CASE("Handler: lifecycle messages become ordered lifecycle updates", "[gateway][handler]") {
  Fixture f;
  Work w = f.Run(
      "/as/mqtt/status/a1Prod/dev1",
      R"({"status":"online","productKey":"a1Prod","deviceName":"dev1","time":"2023-11-14 22:13:20.000","utcTime":"2023-11-14T22:13:20.000Z","lastTime":"2023-11-14 22:13:20.000","utcLastTime":"2023-11-14T22:13:20.000Z","clientIp":"10.0.0.1","seq":42})");
  REQUIRE(std::holds_alternative<gw::LifecycleOp>(w.op));
  const auto& op = std::get<gw::LifecycleOp>(w.op);
  CHECK(op.event.device_id == 11);
  CHECK(op.event.online);
  CHECK(op.event.sequence == 42);
  CHECK(op.event.ip_address == "10.0.0.1");
  CHECK_FALSE(w.reply);
}

TEST_CASE("Handler: PostgreSQL away means retry - never 6100", "[gateway][handler]") {
  Fixture f;
  f.source.unavailable = true;
  f.Run(kPost, R"({"id":"1","params":{"RunCount":1}})", HandleStatus::kRetry);
  f.source.unavailable = false;
  Work w = f.Run(kPost, R"({"id":"1","params":{"RunCount":1}})");
  CHECK(w.reply->code == 200);
}

TEST_CASE("Handler: a device's custom-topic message is stored as it came, the platform's own is not",
          "[gateway][handler]") {
  Fixture f;
  const std::string topic = "/a1Prod/dev1/user/update";
  Work w = f.Run(topic, std::string("\x00\xff{", 3));
  CHECK_FALSE(w.reply);
  CHECK_FALSE(w.telemetry);
  const auto* op = std::get_if<gw::UserMessageOp>(&w.op);
  REQUIRE(op);
  CHECK(op->topic == topic);
  CHECK(op->payload == std::string("\x00\xff{", 3));
  CHECK(op->received_ms == t::kNow - 5);
  // iot-api's downlink seen through /+/+/user/#: ignored.
  Work mine;
  gw::InboundMessage from_api{topic, "x", t::kNow, true};
  CHECK(f.handler->Handle(from_api, t::kNow, mine) == HandleStatus::kIgnore);
  // Over 256 KiB: ignored; an unknown device: nothing stored.
  f.Run(topic, std::string(256 * 1024 + 1, 'x'), HandleStatus::kIgnore);
  Work unknown = f.Run("/a1Prod/nobody/user/update", "x");
  CHECK(std::holds_alternative<std::monostate>(unknown.op));
}

// iot-gateway end to end: the real binary between the real Mosquitto (with the project's plugin),
// PostgreSQL and real MQTT devices. Each test has its own database, broker and gateway.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_stack.hpp"
#include "iot/common/clock.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/testing/env.hpp"

using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Request;
using iot::gateway::itest::Stack;
using iot::store::ValidationMode;
using nlohmann::json;
using namespace std::chrono_literals;

using iot::NowMs;

namespace {

std::string UniqueId(const std::string& prefix) {
  static std::atomic<int> n{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

std::string Topic(const std::string& dn, const std::string& rest) {
  return std::string("/sys/") + kPk + "/" + dn + "/" + rest;
}

const std::string kPostPath = "thing/event/property/post";

json Post(const std::string& id, json params) {
  return json{
      {"id", id}, {"version", "1.0"}, {"params", std::move(params)}, {"method", "thing.event.property.post"}};
}

// One stack with one gateway and one connected device "dev01".
struct World {
  explicit World(ValidationMode mode = ValidationMode::kWeak, std::map<std::string, std::string> env = {},
                 bool private_pg = false)
      : stack(mode, private_pg), device_id(stack.AddDevice("dev01")) {
    gateway = std::make_unique<GatewayProcess>(stack, UniqueId("gw"), env);
    INFO(gateway->LogTail());
    REQUIRE(gateway->WaitConnected());
    device = stack.Connect("dev01");
  }
  ~World() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n" << gateway->LogTail() << "\n";
    }
  }
  std::int64_t HistoryRows(const std::string& identifier = "") {
    if (identifier.empty()) {
      return stack.Count("SELECT count(*) FROM property_history WHERE device_id = $1", device_id);
    }
    return stack.Count(
        "SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = '" + identifier + "'",
        device_id);
  }
  Stack stack;
  std::int64_t device_id;
  std::unique_ptr<GatewayProcess> gateway;
  std::unique_ptr<iot::testing::MqttTestClient> device;
};

}  // namespace

TEST_CASE("Gateway: property post is stored with the device time - refusals named and not stored",
          "[integration][gateway][mqtt][pg]") {
  World w;
  const std::string id = "1|exp-topic|/sys/" + std::string(kPk) + "/dev01/thing/event/property/post_reply";
  const std::int64_t t = NowMs() - 60000;
  auto reply =
      Request(*w.device, Topic("dev01", kPostPath),
              Post(id, {{"RunCount", {{"value", 42}, {"time", t}}}, {"Label", 0}, {"Humidity", 55.5}}));
  REQUIRE(reply);
  CHECK((*reply)["id"] == id);  // byte for byte
  CHECK((*reply)["code"] == 200);
  CHECK((*reply)["method"] == "thing.event.property.post");
  REQUIRE((*reply)["data"].contains("Label"));
  CHECK((*reply)["data"]["Label"]["code"] == 6310);
  CHECK_FALSE((*reply)["data"].contains("RunCount"));
  // Committed before the reply: the rows are there now, without polling.
  CHECK(w.HistoryRows("RunCount") == 1);
  CHECK(w.HistoryRows("Humidity") == 1);
  CHECK(w.HistoryRows("Label") == 0);
  CHECK(w.stack.Count("SELECT (extract(epoch from ts) * 1000)::bigint FROM property_history WHERE device_id "
                      "= $1 AND identifier = 'RunCount'",
                      w.device_id) == t);
  CHECK(w.stack.Count(
            "SELECT count(*) FROM rejections WHERE device_id = $1 AND identifier = 'Label' AND code = 6310",
            w.device_id) == 1);
  auto latest = iot::store::GetLatestProperties(w.stack.Db(), w.device_id);
  REQUIRE(latest.has_value());
  bool found = false;
  for (const auto& p : *latest) {
    if (p.identifier == "RunCount") {
      found = true;
      CHECK(p.value_json == "42");
      CHECK(p.time == t);
    }
  }
  CHECK(found);
}

TEST_CASE("Gateway: every topic kind", "[integration][gateway][mqtt][pg]") {
  World w;
  auto& dev = *w.device;
  const std::int64_t t = NowMs() - 3600000;

  SECTION("event post: stored with type and device time; refused event answered with its code") {
    auto ok = Request(dev, Topic("dev01", "thing/event/LowBattery/post"),
                      json{{"id", "e1"},
                           {"params", {{"value", {{"Level", 3}, {"Since", "1600000000000"}}}, {"time", t}}},
                           {"method", "thing.event.LowBattery.post"}});
    REQUIRE(ok);
    CHECK((*ok)["code"] == 200);
    CHECK(w.stack.Count("SELECT count(*) FROM events WHERE device_id = $1 AND identifier = 'LowBattery' AND "
                        "type = 'alert'",
                        w.device_id) == 1);
    CHECK(w.stack.Count("SELECT (extract(epoch from ts) * 1000)::bigint FROM events WHERE device_id = $1",
                        w.device_id) == t);
    auto bad = Request(dev, Topic("dev01", "thing/event/LowBattery/post"),
                       json{{"id", "e2"}, {"params", {{"value", {{"Level", "low"}}}, {"time", t}}}});
    REQUIRE(bad);
    CHECK((*bad)["code"] == 6306);
    CHECK((*bad)["message"].get<std::string>().find("Level") != std::string::npos);
    CHECK(w.stack.Count("SELECT count(*) FROM events WHERE device_id = $1", w.device_id) == 1);
    CHECK(w.stack.Count("SELECT count(*) FROM rejections WHERE device_id = $1 AND code = 6306",
                        w.device_id) == 1);
  }
  SECTION("history post: stored with the device's times") {
    auto r = Request(
        dev, Topic("dev01", "thing/event/property/history/post"),
        json{{"id", "h1"},
             {"params",
              json::array(
                  {{{"identity", {{"productKey", kPk}, {"deviceName", "dev01"}}},
                    {"properties", json::array({{{"RunCount", {{"value", 1}, {"time", t}}}},
                                                {{"RunCount", {{"value", 2}, {"time", t + 1000}}}}})},
                    {"events",
                     json::array(
                         {{{"Fault", {{"value", {{"Code", 1}, {"Detail", "x"}}}, {"time", t + 2000}}}}})}}})},
             {"method", "thing.event.property.history.post"}});
    REQUIRE(r);
    CHECK((*r)["code"] == 200);
    CHECK(w.HistoryRows("RunCount") == 2);
    CHECK(
        w.stack.Count(
            "SELECT min((extract(epoch from ts) * 1000)::bigint) FROM property_history WHERE device_id = $1",
            w.device_id) == t);
    CHECK(w.stack.Count("SELECT count(*) FROM events WHERE device_id = $1 AND type = 'error'", w.device_id) ==
          1);
  }
  SECTION("batch post") {
    auto r = Request(dev, Topic("dev01", "thing/event/property/batch/post"),
                     json{{"id", "b1"},
                          {"params",
                           {{"properties",
                             {{"Humidity", json::array({{{"value", 1.5}, {"time", t}},
                                                        {{"value", 2.5}, {"time", t + 1}}})}}}}},
                          {"method", "thing.event.property.batch.post"}});
    REQUIRE(r);
    CHECK((*r)["code"] == 200);
    CHECK(w.HistoryRows("Humidity") == 2);
  }
  SECTION("desired get and delete") {
    REQUIRE(iot::store::SetDesiredProperties(w.stack.Db(), w.device_id,
                                             {{"PowerOn", std::string("1"), std::nullopt}})
                .has_value());
    auto got = Request(
        dev, Topic("dev01", "thing/property/desired/get"),
        json{{"id", "d1"}, {"params", {"PowerOn", "RunCount"}}, {"method", "thing.property.desired.get"}});
    REQUIRE(got);
    CHECK((*got)["code"] == 200);
    CHECK((*got)["data"]["PowerOn"]["value"] == 1);
    CHECK((*got)["data"]["PowerOn"]["version"] == 1);
    CHECK_FALSE((*got)["data"].contains("RunCount"));
    auto del = Request(dev, Topic("dev01", "thing/property/desired/delete"),
                       json{{"id", "d2"},
                            {"params", {{"PowerOn", {{"version", 1}}}}},
                            {"method", "thing.property.desired.delete"}});
    REQUIRE(del);
    CHECK((*del)["code"] == 200);
    auto after = Request(dev, Topic("dev01", "thing/property/desired/get"),
                         json{{"id", "d3"}, {"params", {"PowerOn"}}});
    REQUIRE(after);
    CHECK_FALSE((*after)["data"].contains("PowerOn"));
  }
  SECTION("dsltemplate get returns the published TSL") {
    auto r = Request(dev, Topic("dev01", "thing/dsltemplate/get"),
                     json{{"id", "t1"}, {"params", json::object()}, {"method", "thing.dsltemplate.get"}});
    REQUIRE(r);
    CHECK((*r)["code"] == 200);
    CHECK((*r)["data"]["properties"].size() == 10);
  }
  SECTION("tags update and delete") {
    auto up = Request(dev, Topic("dev01", "thing/deviceinfo/update"),
                      json{{"id", "g1"},
                           {"params", json::array({{{"attrKey", "room"}, {"attrValue", "r-101"}}})},
                           {"method", "thing.deviceinfo.update"}});
    REQUIRE(up);
    CHECK((*up)["code"] == 200);
    auto d = iot::store::GetDeviceById(w.stack.Db(), w.device_id);
    REQUIRE(d.has_value());
    CHECK(d->tags["room"] == "r-101");
    auto del = Request(dev, Topic("dev01", "thing/deviceinfo/delete"),
                       json{{"id", "g2"},
                            {"params", json::array({{{"attrKey", "room"}}})},
                            {"method", "thing.deviceinfo.delete"}});
    REQUIRE(del);
    CHECK((*del)["code"] == 200);
    CHECK(iot::store::GetDeviceById(w.stack.Db(), w.device_id)->tags.count("room") == 0);
    auto bad = Request(dev, Topic("dev01", "thing/deviceinfo/update"),
                       json{{"id", "g3"}, {"params", json::array({{{"attrKey", "9x"}}})}});
    REQUIRE(bad);
    CHECK((*bad)["code"] == 460);
  }
  SECTION("NTP") {
    REQUIRE(dev.Publish(std::string("/ext/ntp/") + kPk + "/dev01/request", R"({"deviceSendTime":"100"})", 0));
    auto m = dev.WaitMessage(std::string("/ext/ntp/") + kPk + "/dev01/response", 10s);
    REQUIRE(m);
    json r = json::parse(m->payload);
    CHECK(r["deviceSendTime"] == "100");
    CHECK(r["serverRecvTime"].is_string());
    CHECK(std::stoll(r["serverSendTime"].get<std::string>()) >= NowMs() - 60000);
  }
  SECTION("other /sys topics are answered not supported, and counted") {
    auto unregister =
        Request(dev, Topic("dev01", "thing/sub/unregister"),
                json{{"id", "o1"}, {"params", json::array()}, {"method", "thing.sub.unregister"}});
    REQUIRE(unregister);
    CHECK((*unregister)["code"] == 6300);
    auto unknown =
        Request(dev, Topic("dev01", "thing/nonsense"), json{{"id", "o3"}, {"params", json::object()}});
    REQUIRE(unknown);
    CHECK((*unknown)["code"] == 6300);
    CHECK(w.gateway->Metric("iot_gateway_not_supported_total") == 2);
  }
  SECTION("request-level failures: not JSON, wrong method") {
    REQUIRE(dev.Publish(Topic("dev01", kPostPath), "{oops", 1));
    auto m = dev.WaitMessage(Topic("dev01", kPostPath) + "_reply", 10s);
    REQUIRE(m);
    CHECK(json::parse(m->payload)["code"] == 6207);
    auto wrong = Request(dev, Topic("dev01", kPostPath),
                         json{{"id", "m1"}, {"params", json::object()}, {"method", "thing.service.x"}});
    REQUIRE(wrong);
    CHECK((*wrong)["code"] == 6300);
    CHECK(w.stack.Count("SELECT count(*) FROM rejections WHERE device_id = $1 AND code IN (6207, 6300)",
                        w.device_id) == 2);
  }
  SECTION("a payload nested deeper than 64 gets 460 and the gateway keeps serving") {
    const std::string deep = R"({"id":"d1","version":"1.0","params":{"Temperature":)" +
                             std::string(100000, '[') + std::string(100000, ']') + "}}";
    REQUIRE(dev.Publish(Topic("dev01", kPostPath), deep, 1));
    auto m = dev.WaitMessage(Topic("dev01", kPostPath) + "_reply", 10s);
    REQUIRE(m);
    CHECK(json::parse(m->payload)["code"] == 460);
    CHECK(json::parse(m->payload)["message"] == "JSON nested deeper than 64");
    auto ok =
        Request(dev, Topic("dev01", kPostPath),
                json{{"id", "d2"}, {"params", json::object()}, {"method", "thing.event.property.post"}});
    REQUIRE(ok);
    CHECK((*ok)["id"] == "d2");
  }
  SECTION("a device reply completes the service call") {
    iot::store::ServiceCallCreate create;
    create.device_id = w.device_id;
    create.identifier = "SelfTest";
    create.status = iot::store::ServiceCallStatus::kSent;
    create.alink_id = "777";
    auto call = iot::store::CreateServiceCall(w.stack.Db(), create);
    REQUIRE(call.has_value());
    REQUIRE(dev.Publish(Topic("dev01", "thing/service/SelfTest_reply"),
                        R"({"id":"777","code":200,"data":{"Passed":1,"Report":"fine"}})", 1));
    REQUIRE(iot::testing::PollUntil(
        [&] {
          auto c = iot::store::GetServiceCall(w.stack.Db(), w.device_id, call->call_id);
          return c.has_value() && c->status == iot::store::ServiceCallStatus::kSucceeded;
        },
        5s));
    auto done = iot::store::GetServiceCall(w.stack.Db(), w.device_id, call->call_id);
    REQUIRE(done.has_value());
    REQUIRE(done->output_json);
    CHECK(json::parse(*done->output_json)["Report"] == "fine");
  }
  SECTION("lifecycle: the device is online, then offline after disconnecting") {
    REQUIRE(iot::testing::PollUntil(
        [&] {
          auto d = iot::store::GetDeviceById(w.stack.Db(), w.device_id);
          return d.has_value() && d->status == iot::store::DeviceStatus::kOnline && d->activated_at;
        },
        5s));
    dev.Disconnect();
    REQUIRE(iot::testing::PollUntil(
        [&] {
          auto d = iot::store::GetDeviceById(w.stack.Db(), w.device_id);
          return d.has_value() && d->status == iot::store::DeviceStatus::kOffline;
        },
        5s));
  }
}

TEST_CASE("Gateway: each mode x fault class of reference 4.2", "[integration][gateway][mqtt][pg]") {
  const auto mode = GENERATE(ValidationMode::kStrict, ValidationMode::kWeak, ValidationMode::kNone);
  World w(mode);
  struct Fault {
    std::string name;
    json params;
    std::string item;
    bool stored_strict, stored_weak, stored_none;
  };
  const std::vector<Fault> faults = {
      {"a unknown identifier", {{"Nope", 1}}, "Nope", false, false, true},
      {"b wrong data type", {{"RunCount", "15"}}, "RunCount", false, false, true},
      {"c out of range", {{"RunCount", 2000000}}, "RunCount", false, true, true},
      {"d unknown struct member",
       {{"Position",
         {{"Lat", 1},
          {"Lng", 2},
          {"Fix", 1},
          {"Valid", 1},
          {"Ts", "1"},
          {"Note", "n"},
          {"Sats", 1},
          {"Extra", 1}}}},
       "Position",
       false,
       false,
       true},
  };
  int n = 0;
  for (const auto& f : faults) {
    CAPTURE(iot::store::ToString(mode), f.name);
    const bool stored = mode == ValidationMode::kStrict ? f.stored_strict
                        : mode == ValidationMode::kWeak ? f.stored_weak
                                                        : f.stored_none;
    const auto before = w.HistoryRows(f.item);
    auto reply = Request(*w.device, Topic("dev01", kPostPath), Post("f" + std::to_string(n++), f.params));
    REQUIRE(reply);
    CHECK((*reply)["code"] == 200);
    CHECK((*reply)["data"].contains(f.item) == !stored);
    CHECK(w.HistoryRows(f.item) - before == (stored ? 1 : 0));
  }
  CHECK(w.stack.Count("SELECT count(*) FROM rejections WHERE device_id = $1", w.device_id) ==
        (mode == ValidationMode::kStrict ? 4
         : mode == ValidationMode::kWeak ? 3
                                         : 0));
}

TEST_CASE("Gateway: a redelivered message is stored once and answered again",
          "[integration][gateway][mqtt][pg]") {
  World w;
  const json msg = Post("dup-1", {{"RunCount", {{"value", 5}, {"time", NowMs() - 1000}}}});
  auto first = Request(*w.device, Topic("dev01", kPostPath), msg);
  auto second = Request(*w.device, Topic("dev01", kPostPath), msg);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first == *second);
  CHECK(w.HistoryRows("RunCount") == 1);
  CHECK(w.gateway->Metric("iot_gateway_duplicates_total") == 1);
}

// IOT_GATEWAY_REPLY_QOS=1: the gateway's client numbers its replies and keeps them until the broker's PUBACK.
TEST_CASE("Gateway: with IOT_GATEWAY_REPLY_QOS=1 every post is answered once, at QoS 1",
          "[integration][gateway][mqtt][pg]") {
  World w(ValidationMode::kWeak, {{"IOT_GATEWAY_DEVICE_RATE", "0"}, {"IOT_GATEWAY_REPLY_QOS", "1"}});
  const std::int64_t t0 = NowMs() - 600000;
  constexpr int kPosts = 300;
  for (int i = 0; i < kPosts; ++i) {
    REQUIRE(w.device->Publish(
        Topic("dev01", kPostPath),
        Post("q" + std::to_string(i), {{"RunCount", {{"value", i}, {"time", t0 + i}}}}).dump(), 1));
  }
  std::map<std::string, int> replies;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  int total = 0;
  while (total < kPosts && std::chrono::steady_clock::now() < deadline) {
    if (auto m = w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 200ms)) {
      CHECK(m->qos == 1);
      const json reply = json::parse(m->payload);
      CHECK(reply["code"] == 200);
      ++replies[reply["id"].get<std::string>()];
      ++total;
    }
  }
  CHECK(total == kPosts);
  CHECK(replies.size() == static_cast<std::size_t>(kPosts));
  CHECK(w.HistoryRows("RunCount") == kPosts);
}

TEST_CASE("Gateway: a published thing-model change and a mode change take effect without a restart",
          "[integration][gateway][mqtt][pg]") {
  World w;
  auto before = Request(*w.device, Topic("dev01", kPostPath), Post("m0", {{"Brightness", 3}}));
  REQUIRE(before);
  CHECK((*before)["data"].contains("Brightness"));
  json tsl = json::parse(iot::gateway::itest::ReadFixture("tsl/valid/reference_example.json"));
  tsl["properties"].push_back(
      {{"identifier", "Brightness"},
       {"name", "Brightness"},
       {"accessMode", "rw"},
       {"required", false},
       {"dataType", {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "100"}, {"step", "1"}}}}}});
  w.stack.PublishModel(tsl.dump());
  // The gateway hears of it by NOTIFY: poll until it answers with the new model. How fast that is, is a
  // benchmark's question: a latency bound here (2 s until now) fails whenever the machine is busy enough.
  const auto published = std::chrono::steady_clock::now();
  int n = 0;
  bool accepted = false;
  while (std::chrono::steady_clock::now() - published < 30s) {
    auto r =
        Request(*w.device, Topic("dev01", kPostPath), Post("m" + std::to_string(++n), {{"Brightness", 3}}));
    REQUIRE(r);
    if (!(*r)["data"].contains("Brightness")) {
      accepted = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  CHECK(accepted);
  CHECK(w.HistoryRows("Brightness") == 1);

  // weak -> strict: out of range becomes refused.
  w.stack.SetMode(ValidationMode::kStrict);
  const auto changed = std::chrono::steady_clock::now();
  bool refused = false;
  while (std::chrono::steady_clock::now() - changed < 30s) {
    auto r =
        Request(*w.device, Topic("dev01", kPostPath), Post("s" + std::to_string(++n), {{"Brightness", 300}}));
    REQUIRE(r);
    if ((*r)["data"].contains("Brightness")) {
      refused = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  CHECK(refused);
}

TEST_CASE("Gateway: PostgreSQL stopped and restarted during a stream: every 200 is stored",
          "[integration][gateway][mqtt][pg]") {
  World w(ValidationMode::kWeak, {{"IOT_GATEWAY_DEVICE_RATE", "0"}}, /*private_pg=*/true);
  constexpr int kPosts = 300;
  const std::int64_t t0 = NowMs() - 600000;
  std::thread chaos([&] {
    std::this_thread::sleep_for(300ms);
    w.stack.Pg()->Stop();
    std::this_thread::sleep_for(2s);
    w.stack.Pg()->Start();
  });
  for (int i = 0; i < kPosts; ++i) {
    REQUIRE(w.device->Publish(
        Topic("dev01", kPostPath),
        Post("p" + std::to_string(i), {{"RunCount", {{"value", i}, {"time", t0 + i}}}}).dump(), 1));
    std::this_thread::sleep_for(5ms);
  }
  chaos.join();
  std::set<std::string> ok;
  std::map<int, int> codes;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  int answered = 0;
  while (answered < kPosts && std::chrono::steady_clock::now() < deadline) {
    auto m = w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 1s);
    if (!m) {
      continue;
    }
    json r = json::parse(m->payload);
    ++answered;
    ++codes[r["code"].get<int>()];
    if (r["code"] == 200) {
      ok.insert(r["id"].get<std::string>());
    }
  }
  CAPTURE(codes);
  CHECK(static_cast<int>(ok.size()) == kPosts);  // nothing dropped: all answered after the restart
  for (const auto& id : ok) {
    const int i = std::stoi(id.substr(1));
    CAPTURE(id);
    CHECK(w.stack.Count("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = "
                        "'RunCount' AND value = '" +
                            std::to_string(i) + "'::jsonb",
                        w.device_id) == 1);
  }
  CHECK(w.gateway->Metric("iot_gateway_db_retries_total") > 0);
}

TEST_CASE("Gateway: two gateways share the subscription: each message processed once - latest right",
          "[integration][gateway][mqtt][pg]") {
  // The per-device limit is per gateway process; this stream is faster than the default 100/s.
  World w(ValidationMode::kWeak, {{"IOT_GATEWAY_DEVICE_RATE", "0"}});
  GatewayProcess second(w.stack, UniqueId("gw2"), {{"IOT_GATEWAY_DEVICE_RATE", "0"}});
  REQUIRE(second.WaitConnected());
  constexpr int kPosts = 400;
  const std::int64_t t0 = NowMs() - 600000;
  for (int i = 0; i < kPosts; ++i) {
    REQUIRE(w.device->Publish(
        Topic("dev01", kPostPath),
        Post("s" + std::to_string(i), {{"RunCount", {{"value", i}, {"time", t0 + i}}}}).dump(), 1));
  }
  std::map<std::string, int> replies;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  int total = 0;
  while (total < kPosts && std::chrono::steady_clock::now() < deadline) {
    auto m = w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 1s);
    if (!m) {
      continue;
    }
    json r = json::parse(m->payload);
    CHECK(r["code"] == 200);
    ++replies[r["id"].get<std::string>()];
    ++total;
  }
  // Late duplicates would show up now.
  while (auto m = w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 500ms)) {
    ++replies[json::parse(m->payload)["id"].get<std::string>()];
  }
  CHECK(replies.size() == kPosts);
  for (const auto& [id, count] : replies) {
    CHECK(count == 1);
  }
  CHECK(w.HistoryRows("RunCount") == kPosts);
  auto latest = w.stack.Scalar(
      "SELECT value::text FROM latest_values WHERE device_id = $1 AND identifier = 'RunCount'", w.device_id);
  REQUIRE(latest);
  CHECK(*latest == std::to_string(kPosts - 1));
  const double first_share = w.gateway->Metric("iot_gateway_messages_in_total{kind=\"property_post\"}");
  const double second_share = second.Metric("iot_gateway_messages_in_total{kind=\"property_post\"}");
  CHECK(first_share + second_share == kPosts);
  CHECK(first_share > 0);
  CHECK(second_share > 0);
}

TEST_CASE(
    "Gateway: back-pressure with PostgreSQL stopped: a burst beyond the Mosquitto defaults is held and "
    "stored",
    "[integration][gateway][mqtt][pg]") {
  // A queue far smaller than the stream; 2,500 QoS 1 messages exceed Mosquitto's default
  // max_queued_messages (1000) for the gateway's session.
  World w(
      ValidationMode::kWeak,
      {{"IOT_GATEWAY_QUEUE_HIGH", "100"}, {"IOT_GATEWAY_QUEUE_LOW", "20"}, {"IOT_GATEWAY_DEVICE_RATE", "0"}},
      /*private_pg=*/true);
  constexpr int kPosts = 2500;
  w.stack.Pg()->Stop();
  const std::int64_t t0 = NowMs() - 600000;
  for (int i = 0; i < kPosts; ++i) {
    REQUIRE(w.device->Publish(
        Topic("dev01", kPostPath),
        Post("q" + std::to_string(i), {{"RunCount", {{"value", i}, {"time", t0 + i}}}}).dump(), 1));
  }
  REQUIRE(iot::testing::PollUntil([&] { return w.gateway->Metric("iot_gateway_pauses_total") >= 1; }, 10s));
  // The rest waits in the broker. How many arrive between crossing the high-water mark and the disconnect
  // depends on scheduling (the supervisor looks every 10 ms): a bound of 200 failed with 235 under CPU load,
  // the mark being 100. What matters is that most of the burst is not in the gateway.
  CHECK(w.gateway->Metric("iot_gateway_queue_depth") < kPosts / 2);
  // Nothing is answered while PostgreSQL is away (no reply before a commit).
  CHECK_FALSE(w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 300ms));
  w.stack.Pg()->Start();
  std::set<std::string> ok;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (static_cast<int>(ok.size()) < kPosts && std::chrono::steady_clock::now() < deadline) {
    auto m = w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 1s);
    if (!m) {
      continue;
    }
    json r = json::parse(m->payload);
    if (r["code"] == 200) {
      ok.insert(r["id"].get<std::string>());
    }
  }
  CHECK(static_cast<int>(ok.size()) == kPosts);
  CHECK(w.HistoryRows("RunCount") == kPosts);
  CHECK(w.gateway->Metric("iot_gateway_resumes_total") >= 1);
}

TEST_CASE(
    "Gateway: device bytes PostgreSQL cannot hold (not UTF-8, NUL) are answered and stored made safe - "
    "the other devices' messages of the batch are stored and answered 200",
    "[integration][gateway][mqtt][pg][security]") {
  World w(ValidationMode::kNone);  // every identifier stored: NUL bytes reach every column
  constexpr int kGood = 6;
  std::vector<std::int64_t> good_ids;
  std::vector<std::unique_ptr<iot::testing::MqttTestClient>> good;
  for (int i = 0; i < kGood; ++i) {
    const std::string dn = "good" + std::to_string(i);
    good_ids.push_back(w.stack.AddDevice(dn));
    good.push_back(w.stack.Connect(dn));
    REQUIRE(good.back()->Subscribe(Topic(dn, kPostPath) + "_reply", 0) == 0);
  }
  auto& bad = *w.device;  // dev01
  const std::string bad_topic = Topic("dev01", kPostPath);
  REQUIRE(bad.Subscribe(bad_topic + "_reply", 0) == 0);
  REQUIRE(bad.Subscribe(Topic("dev01", "thing/event/+/post_reply"), 0) == 0);
  // 1. Not UTF-8 (a Latin-1 byte, a lone continuation byte, a truncated sequence) and a NUL byte.
  const std::string not_utf8 =
      std::string("{\"id\":\"b1\",\"params\":{\"Label\":\"caf\xe9\x80\xe2\x82\"}}") + '\0';
  // 2. Valid JSON whose strings hold U+0000 (jsonb and text refuse it): value, identifier, event output, id.
  const std::string nul_value =
      R"({"id":"b2","version":"1.0","method":"thing.event.property.post","params":{"Label":"a\u0000b","Odd\u0000Key":1}})";
  const std::string nul_event =
      R"({"id":"b3\u0000","version":"1.0","method":"thing.event.Oops.post","params":{"note":"x\u0000y"}})";
  const std::int64_t t = NowMs() - 5000;
  // One burst (QoS 0, no waiting) so that the gateway batches the bad messages with the good ones.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kGood; ++i) {
      const std::string dn = "good" + std::to_string(i);
      REQUIRE(good[i]->Publish(
          Topic(dn, kPostPath),
          Post("g" + std::to_string(round), {{"RunCount", {{"value", i}, {"time", t + round}}}}).dump(), 0));
      if (i == kGood / 2 && round == 1) {
        REQUIRE(bad.Publish(bad_topic, not_utf8, 0));
        REQUIRE(bad.Publish(bad_topic, nul_value, 0));
        REQUIRE(bad.Publish(Topic("dev01", "thing/event/Oops/post"), nul_event, 0));
      }
    }
  }
  // The good devices: every post answered 200 and stored.
  for (int i = 0; i < kGood; ++i) {
    const std::string dn = "good" + std::to_string(i);
    for (int round = 0; round < 3; ++round) {
      auto m = good[i]->WaitMessageWhere(
          [&](const iot::testing::ReceivedMessage& r) {
            auto j = json::parse(r.payload, nullptr, false);
            return r.topic == Topic(dn, kPostPath) + "_reply" && !j.is_discarded() &&
                   j["id"] == "g" + std::to_string(round);
          },
          10s);
      REQUIRE(m);
      CHECK(json::parse(m->payload)["code"] == 200);
    }
    CHECK(w.stack.Count(
              "SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'RunCount'",
              good_ids[i]) == 3);
  }
  // Not UTF-8: 6207, stored as a rejection whose value shows the bad bytes escaped.
  auto m1 = bad.WaitMessageWhere(
      [&](const iot::testing::ReceivedMessage& r) {
        auto j = json::parse(r.payload, nullptr, false);
        return r.topic == bad_topic + "_reply" && !j.is_discarded() && j["code"] == 6207;
      },
      10s);
  REQUIRE(m1);
  auto stored =
      w.stack.Scalar("SELECT value FROM rejections WHERE device_id = $1 AND code = 6207", w.device_id);
  REQUIRE(stored);
  CHECK(stored->find("caf\\xe9\\x80\\xe2\\x82") != std::string::npos);
  CHECK(stored->find("\\x00") != std::string::npos);
  // U+0000 inside JSON strings: accepted and stored with the NUL written out as text.
  auto m2 = bad.WaitMessageWhere(
      [&](const iot::testing::ReceivedMessage& r) {
        auto j = json::parse(r.payload, nullptr, false);
        return r.topic == bad_topic + "_reply" && !j.is_discarded() && j["id"] == "b2";
      },
      10s);
  REQUIRE(m2);
  CHECK(json::parse(m2->payload)["code"] == 200);
  auto label = w.stack.Scalar(
      "SELECT value::text FROM property_history WHERE device_id = $1 AND identifier = 'Label'", w.device_id);
  REQUIRE(label);
  CHECK(*label == R"("a\\u0000b")");
  CHECK(w.stack.Count(
            "SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'Odd\\x00Key'",
            w.device_id) == 1);
  auto m3 = bad.WaitMessageWhere(
      [&](const iot::testing::ReceivedMessage& r) {
        return r.topic == Topic("dev01", "thing/event/Oops/post_reply");
      },
      10s);
  REQUIRE(m3);
  CHECK(json::parse(m3->payload)["id"] == std::string("b3\0", 3));  // echoed as sent
  CHECK(json::parse(m3->payload)["code"] == 200);
  auto output = w.stack.Scalar("SELECT output::text FROM events WHERE device_id = $1 AND identifier = 'Oops'",
                               w.device_id);
  REQUIRE(output);
  CHECK(output->find(R"(x\\u0000y)") != std::string::npos);
  CHECK(w.gateway->Metric("iot_gateway_db_failed_messages_total") == 0);
}

TEST_CASE("Gateway: /readyz needs the broker and PostgreSQL - /healthz only the broker",
          "[integration][gateway][mqtt][pg]") {
  World w(ValidationMode::kWeak, {}, /*private_pg=*/true);
  auto status = [&](const std::string& path) { return w.gateway->Get(path).substr(0, 12); };
  REQUIRE(iot::testing::PollUntil([&] { return status("/readyz") == "HTTP/1.0 200"; }, 10s, 50ms));
  w.stack.Pg()->Stop();
  CHECK(iot::testing::PollUntil([&] { return status("/readyz") == "HTTP/1.0 503"; }, 10s, 50ms));
  CHECK(status("/healthz") == "HTTP/1.0 200");
  w.stack.Pg()->Start();
  CHECK(iot::testing::PollUntil([&] { return status("/readyz") == "HTTP/1.0 200"; }, 20s, 50ms));
}

// Mosquitto deals shared messages round-robin to offline sessions too: a gateway that stops and keeps its
// session holds a share of the posts until it comes back (with the same client id); one that ends its
// session on stop holds none.
TEST_CASE("Gateway: stopped with IOT_GATEWAY_END_SESSION_ON_STOP=1 it leaves no session behind",
          "[integration][gateway][mqtt][pg]") {
  World w(ValidationMode::kWeak, {{"IOT_GATEWAY_DEVICE_RATE", "0"}});
  const std::int64_t t0 = NowMs() - 600000;
  constexpr int kPosts = 40;
  auto publish = [&](const std::string& prefix) {
    for (int i = 0; i < kPosts; ++i) {
      REQUIRE(w.device->Publish(
          Topic("dev01", kPostPath),
          Post(prefix + std::to_string(i), {{"RunCount", {{"value", i}, {"time", t0 + i}}}}).dump(), 1));
    }
  };
  auto collect = [&](std::set<std::string>& ids, std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (static_cast<int>(ids.size()) < kPosts && std::chrono::steady_clock::now() < deadline) {
      if (auto m = w.device->WaitMessage(Topic("dev01", kPostPath) + "_reply", 200ms)) {
        ids.insert(json::parse(m->payload)["id"].get<std::string>());
      }
    }
    return static_cast<int>(ids.size());
  };
  const std::string second_id = UniqueId("second");
  {
    GatewayProcess keeps(w.stack, second_id, {{"IOT_GATEWAY_DEVICE_RATE", "0"}});
    REQUIRE(keeps.WaitConnected());
    CHECK(keeps.Process().Stop() == 0);
  }
  std::set<std::string> kept;
  publish("k");
  CHECK(collect(kept, 3s) < kPosts);  // the stopped gateway's share waits in its session
  {
    GatewayProcess leaves(w.stack, second_id,
                          {{"IOT_GATEWAY_DEVICE_RATE", "0"}, {"IOT_GATEWAY_END_SESSION_ON_STOP", "1"}});
    REQUIRE(leaves.WaitConnected());
    CHECK(collect(kept, 10s) == kPosts);  // back with the same client id: it takes its share
    CHECK(leaves.Process().Stop() == 0);
    INFO(leaves.LogTail());
    CHECK(leaves.Process().LogContains("MQTT session ended (Session Expiry 0)"));
  }
  std::set<std::string> after;
  publish("l");
  CHECK(collect(after, 10s) == kPosts);  // no session left to deal to: the first gateway answers all
}

TEST_CASE(
    "Gateway: /metrics - build info, process, readiness, ingest lag and the broker's figures re-exported",
    "[integration][gateway][mqtt][pg][metrics]") {
  // $SYS every second instead of 10 (deploy/lib/platform.sh writes it into mosquitto.conf).
  ::setenv("IOT_MQTT_SYS_INTERVAL", "1", 1);
  World w;
  GatewayProcess& gw = *w.gateway;
  INFO(gw.LogTail());
  const std::string first = gw.Metrics();
  CHECK(first.find("\niot_build_info{service=\"gateway\",version=\"") != std::string::npos);
  CHECK(gw.Metric("process_resident_memory_bytes") > 1e6);
  CHECK(gw.Metric("process_open_fds") >= 3);
  CHECK(gw.Metric("process_start_time_seconds") > static_cast<double>(NowMs()) / 1000 - 600);
  // Ready once its first database check passed (as /readyz).
  CHECK(iot::testing::PollUntil([&] { return gw.Metric("iot_gateway_ready") == 1; }, 10s, 50ms));
  CHECK(gw.Metric("iot_gateway_mqtt_connected") == 1);
  CHECK(gw.Metric("iot_gateway_database_ok") == 1);
  // The broker's figures arrive: $SYS (retained, at once) and the plugin's stats (every second here).
  REQUIRE(iot::testing::PollUntil(
      [&] {
        return gw.Metric("iot_broker_clients_connected") >= 2 &&
               gw.Metric("iot_broker_online_devices") >= 1 &&
               gw.Metric("iot_broker_sys_updated_timestamp_seconds") > 0 &&
               gw.Metric("iot_broker_stats_updated_timestamp_seconds") > 0;
      },
      15s, 100ms));
  const double received = gw.Metric("iot_broker_publish_received_total");
  const double auth = gw.Metric("iot_broker_auth_allowed_total");
  const double cpu = gw.Metric("process_cpu_seconds_total");
  CHECK(gw.Metric("iot_gateway_ingest_lag_seconds_count") == 0);

  // Ten posts and one more device connecting: the counters move.
  for (int i = 0; i < 10; ++i) {
    auto reply =
        Request(*w.device, Topic("dev01", kPostPath), Post(std::to_string(i), {{"Humidity", 40 + i}}));
    REQUIRE(reply);
    CHECK((*reply)["code"] == 200);
  }
  w.stack.AddDevice("dev02");
  auto second = w.stack.Connect("dev02");
  REQUIRE(second);
  CHECK(gw.Metric("iot_gateway_ingest_lag_seconds_count") >= 1);
  CHECK(gw.Metric("iot_gateway_ingest_lag_seconds_bucket{le=\"+Inf\"}") ==
        gw.Metric("iot_gateway_ingest_lag_seconds_count"));
  CHECK(iot::testing::PollUntil(
      [&] {
        return gw.Metric("iot_broker_publish_received_total") >= received + 10 &&
               gw.Metric("iot_broker_auth_allowed_total") > auth &&
               gw.Metric("iot_broker_online_devices") >= 2;
      },
      15s, 200ms));
  CHECK(gw.Metric("process_cpu_seconds_total") >= cpu);
  // The stats topics are not device traffic: nothing of them reaches the pipeline.
  CHECK(gw.Metric("iot_gateway_ignored_total") == 0);
}

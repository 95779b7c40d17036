// Alarms end to end: rules over the real iot-api, real devices posting through the real broker (with the
// plugin) into real iot-gateway processes and PostgreSQL, alarms read and handled over REST, and an
// alarm change delivered by the gateway's forwarder to a webhook in this test. Each test has its own
// database, broker, gateways and API.

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/common/clock.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/process.hpp"
#include "iot/testing/webhook_receiver.hpp"

using iot::api::itest::ApiProcess;
using iot::api::itest::kAdminToken;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Request;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// The REST API over the stack's database.
struct Api {
  explicit Api(Stack& stack) : process({}, stack.Dsn()) {}
  ApiProcess process;
  iot::testing::HttpClient client{process.Port()};

  iot::testing::HttpResponse Call(const std::string& method, const std::string& target,
                                  const json& body = nullptr, const std::string& token = kAdminToken) {
    iot::testing::HttpHeaders headers{{"Authorization", "Bearer " + token}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    return client.Request(method, "/api/v1" + target, headers, text);
  }
  json Ok(const std::string& method, const std::string& target, const json& body = nullptr, int status = 200,
          const std::string& token = kAdminToken) {
    auto r = Call(method, target, body, token);
    INFO(method << " " << target << " -> " << r.status << " " << r.body);
    REQUIRE(r.status == status);
    return r.body.empty() ? json(nullptr) : json::parse(r.body);
  }
  std::string Token(const std::string& name, const std::string& role) {
    return Ok("POST", "/tokens", json{{"name", name}, {"role", role}}, 201)["token"].get<std::string>();
  }
  std::int64_t Rule(const json& rule) {
    return Ok("POST", std::string("/products/") + kPk + "/alarm-rules", rule, 201)["id"].get<std::int64_t>();
  }
  // The alarms of a rule and device, newest first.
  std::vector<json> Alarms(std::int64_t rule, const std::string& dn) {
    std::vector<json> out;
    const json page =
        Ok("GET", std::string("/alarms?productKey=") + kPk + "&deviceName=" + dn + "&limit=1000");
    for (const auto& a : page["items"]) {
      if (a["ruleId"] == rule) {
        out.push_back(a);
      }
    }
    return out;
  }
};

std::string PostTopic(const std::string& dn) {
  return std::string("/sys/") + kPk + "/" + dn + "/thing/event/property/post";
}

int g_id = 0;

// A property post, acknowledged with 200.
void PostValues(iot::testing::MqttTestClient& device, const std::string& dn, json params) {
  const std::string id = std::to_string(++g_id);
  auto reply = Request(device, PostTopic(dn),
                       json{{"id", id},
                            {"version", "1.0"},
                            {"params", std::move(params)},
                            {"method", "thing.event.property.post"}});
  REQUIRE(reply);
  REQUIRE((*reply)["code"] == 200);
}

void PostEvent(iot::testing::MqttTestClient& device, const std::string& dn, const std::string& event,
               json value) {
  const std::string id = std::to_string(++g_id);
  auto reply = Request(device, std::string("/sys/") + kPk + "/" + dn + "/thing/event/" + event + "/post",
                       json{{"id", id},
                            {"version", "1.0"},
                            {"params", {{"value", std::move(value)}, {"time", iot::NowMs()}}},
                            {"method", "thing.event." + event + ".post"}});
  REQUIRE(reply);
  REQUIRE((*reply)["code"] == 200);
}

std::int64_t Scalar(Stack& stack, const std::string& sql) {
  pqxx::connection c(stack.Dsn());
  pqxx::work tx(c);
  auto row = tx.exec1(sql);
  return row[0].is_null() ? -1 : row[0].as<std::int64_t>();
}

const std::map<std::string, std::string> kFastForward = {{"IOT_FORWARD_RETRY_MAX_MS", "300"},
                                                         {"IOT_FORWARD_TIMEOUT_MS", "2000"}};

}  // namespace

TEST_CASE("Alarms: rules are validated with clear 400s and only admins manage them",
          "[integration][alarms]") {
  Stack stack;
  Api api(stack);
  INFO(api.process.Log());
  const std::string rules = std::string("/products/") + kPk + "/alarm-rules";
  auto bad = api.Call("POST", rules, json{{"name", "hot"}, {"severity", "major"}, {"when", "TargetTemp >"}});
  CHECK(bad.status == 400);
  CHECK(json::parse(bad.body)["detail"] == "when: column 13: expected an operand, found the end of text");
  CHECK(json::parse(bad.body)["errors"][0]["path"] == "/when");
  auto bad_clear = api.Call(
      "POST", rules,
      json{{"name", "hot"}, {"severity", "major"}, {"when", "TargetTemp > 30"}, {"clearWhen", "= 3"}});
  CHECK(bad_clear.status == 400);
  CHECK(json::parse(bad_clear.body)["errors"][0]["path"] == "/clearWhen");
  CHECK(api.Call("POST", rules, json{{"name", "x"}, {"severity", "major"}}).status == 400);
  CHECK(api.Call("POST", rules,
                 json{{"name", "x"}, {"severity", "major"}, {"when", "A > 1"}, {"event", "alert"}})
            .status == 400);
  CHECK(api.Call("POST", rules, json{{"name", "x"}, {"severity", "major"}, {"event", "alert"}, {"forS", 5}})
            .status == 400);
  CHECK(api.Call("POST", rules, json{{"name", "x"}, {"severity", "huge"}, {"when", "A > 1"}}).status == 400);
  CHECK(api.Call("POST", rules, json{{"name", "x"}, {"severity", "major"}, {"when", "A > 1"}, {"forS", -1}})
            .status == 400);
  CHECK(api.Call("POST", rules, json{{"name", "x"}, {"severity", "major"}, {"event", "not an id"}}).status ==
        400);
  CHECK(api.Call("POST", "/products/nosuch01/alarm-rules",
                 json{{"name", "x"}, {"severity", "info"}, {"when", "A > 1"}})
            .status == 404);
  const std::string op = api.Token("op", "operator");
  CHECK(api.Call("POST", rules, json{{"name", "x"}, {"severity", "info"}, {"when", "A > 1"}}, op).status ==
        403);
  CHECK(api.Call("GET", rules, nullptr, op).status == 403);

  // Create, read, change (a condition becomes an event rule), delete.
  json created = api.Ok("POST", rules,
                        json{{"name", "hot"},
                             {"severity", "major"},
                             {"when", "TargetTemp > 30"},
                             {"forS", 60},
                             {"clearWhen", "TargetTemp <= 25"}},
                        201);
  const std::string one = rules + "/" + std::to_string(created["id"].get<std::int64_t>());
  CHECK(created["when"] == "TargetTemp > 30");
  CHECK(created["forS"] == 60);
  CHECK(created["clearWhen"] == "TargetTemp <= 25");
  CHECK(created["enabled"] == true);
  CHECK(api.Ok("GET", one) == created);
  CHECK(api.Ok("GET", rules)["items"].size() == 1);
  auto patched = api.Ok("PATCH", one, json{{"event", "Fault"}, {"severity", "critical"}});
  CHECK(patched["event"] == "Fault");
  CHECK(patched["severity"] == "critical");
  CHECK_FALSE(patched.contains("when"));
  CHECK(api.Call("PATCH", one, json{{"forS", 3}}).status == 400);  // an event rule has no duration
  CHECK(api.Call("PATCH", one, json{{"when", "(("}}).status == 400);
  CHECK(api.Ok("PATCH", one, json{{"when", "Humidity > 90"}})["when"] == "Humidity > 90");
  api.Ok("DELETE", one, nullptr, 204);
  CHECK(api.Call("GET", one).status == 404);
  CHECK(api.Call("DELETE", one).status == 404);
  CHECK(api.Call("GET", "/alarms?state=sleeping").status == 400);
  CHECK(api.Call("GET", "/alarms?severity=huge").status == 400);
  CHECK(api.Call("POST", "/alarms/999999:ack", nullptr, op).status == 404);
}

TEST_CASE(
    "Alarms: a threshold raises at once and clears by its condition - an event raises - operators "
    "acknowledge and clear by hand",
    "[integration][alarms]") {
  Stack stack;
  stack.AddDevice("dev01");
  Api api(stack);
  INFO(api.process.Log());
  // Rules made before the gateway starts: it handles no message before it has loaded them.
  const std::int64_t hot = api.Rule(json{{"name", "too hot"},
                                         {"severity", "major"},
                                         {"when", "TargetTemp > 30"},
                                         {"clearWhen", "TargetTemp <= 25"}});
  const std::int64_t battery = api.Rule(json{{"name", "battery"}, {"severity", "minor"}, {"event", "alert"}});
  const std::int64_t fault = api.Rule(json{{"name", "fault"}, {"severity", "critical"}, {"event", "Fault"}});
  GatewayProcess gateway(stack, "gw-alarm-1");
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto device = stack.Connect("dev01");

  PostValues(*device, "dev01", {{"TargetTemp", 20}});
  CHECK(api.Alarms(hot, "dev01").empty());
  PostValues(*device, "dev01", {{"TargetTemp", 32}});
  auto alarms = api.Alarms(hot, "dev01");
  REQUIRE(alarms.size() == 1);
  CHECK(alarms[0]["state"] == "active");
  CHECK(alarms[0]["severity"] == "major");
  CHECK(alarms[0]["rule"] == "too hot");
  CHECK(alarms[0]["productKey"] == kPk);
  CHECK(alarms[0]["count"] == 1);
  CHECK(alarms[0]["lastValue"] == json{{"TargetTemp", 32}});
  CHECK(alarms[0]["ackedAt"].is_null());
  // Repeats count; a post about something else does not; between the limits it stays (hysteresis).
  PostValues(*device, "dev01", {{"TargetTemp", 33}});
  PostValues(*device, "dev01", {{"Humidity", 50}});
  PostValues(*device, "dev01", {{"TargetTemp", 28}});
  alarms = api.Alarms(hot, "dev01");
  REQUIRE(alarms.size() == 1);
  CHECK(alarms[0]["count"] == 2);
  CHECK(alarms[0]["lastValue"] == json{{"TargetTemp", 33}});
  CHECK(alarms[0]["state"] == "active");
  PostValues(*device, "dev01", {{"TargetTemp", 24}});
  alarms = api.Alarms(hot, "dev01");
  REQUIRE(alarms.size() == 1);
  CHECK(alarms[0]["state"] == "cleared");
  CHECK(alarms[0]["clearedBy"] == "");
  CHECK(alarms[0]["clearedAt"].is_number_integer());
  // Raised again: a new alarm; the open one is listed first.
  PostValues(*device, "dev01", {{"TargetTemp", 31}});
  alarms = api.Alarms(hot, "dev01");
  REQUIRE(alarms.size() == 2);
  CHECK(alarms[0]["state"] == "active");
  CHECK(alarms[1]["state"] == "cleared");

  // Events: any alert event, and one named event.
  PostEvent(*device, "dev01", "LowBattery", {{"Level", 5}});
  PostEvent(*device, "dev01", "LowBattery", {{"Level", 4}});
  PostEvent(*device, "dev01", "Fault", {{"Code", 3}, {"Detail", "overheat"}});
  auto low = api.Alarms(battery, "dev01");
  REQUIRE(low.size() == 1);
  CHECK(low[0]["count"] == 2);
  CHECK(low[0]["lastValue"]["event"] == "LowBattery");
  CHECK(low[0]["lastValue"]["output"]["Level"] == 4);
  REQUIRE(api.Alarms(fault, "dev01").size() == 1);
  CHECK(api.Alarms(fault, "dev01")[0]["severity"] == "critical");

  // Operators acknowledge and clear, recorded by name; viewers cannot.
  const std::string op = api.Token("night shift", "operator");
  const std::string viewer = api.Token("wall", "viewer");
  const std::string id = std::to_string(low[0]["id"].get<std::int64_t>());
  CHECK(api.Call("POST", "/alarms/" + id + ":ack", nullptr, viewer).status == 403);
  auto acked = api.Ok("POST", "/alarms/" + id + ":ack", nullptr, 200, op);
  CHECK(acked["state"] == "acknowledged");
  CHECK(acked["ackedBy"] == "night shift");
  CHECK(acked["ackedAt"].is_number_integer());
  CHECK(api.Ok("POST", "/alarms/" + id + ":ack", nullptr, 200, op)["ackedAt"] == acked["ackedAt"]);
  // A repeat while acknowledged counts and keeps it acknowledged.
  PostEvent(*device, "dev01", "LowBattery", {{"Level", 3}});
  auto after = api.Ok("GET", "/alarms/" + id, nullptr, 200, viewer);
  CHECK(after["state"] == "acknowledged");
  CHECK(after["count"] == 3);
  auto cleared = api.Ok("POST", "/alarms/" + id + ":clear", nullptr, 200, op);
  CHECK(cleared["state"] == "cleared");
  CHECK(cleared["clearedBy"] == "night shift");
  CHECK(api.Call("POST", "/alarms/" + id + ":clear", nullptr, op).status == 409);
  CHECK(api.Call("POST", "/alarms/" + id + ":ack", nullptr, op).status == 409);
  // The next alert is a new alarm.
  PostEvent(*device, "dev01", "LowBattery", {{"Level", 2}});
  low = api.Alarms(battery, "dev01");
  REQUIRE(low.size() == 2);
  CHECK(low[0]["state"] == "active");
  CHECK(low[0]["count"] == 1);

  // Filters and paging.
  auto active = api.Ok("GET", std::string("/alarms?state=active&productKey=") + kPk)["items"];
  CHECK(active.size() == 3);  // too hot, fault, the new battery alarm
  for (const auto& a : active) {
    CHECK(a["state"] == "active");
  }
  CHECK(api.Ok("GET", "/alarms?severity=critical")["items"].size() == 1);
  CHECK(api.Ok("GET", "/alarms?state=open")["items"].size() == 3);
  std::vector<std::int64_t> paged;
  std::string cursor;
  do {
    auto page = api.Ok("GET", "/alarms?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor));
    for (const auto& a : page["items"]) {
      paged.push_back(a["id"].get<std::int64_t>());
    }
    cursor = page["nextCursor"].is_null() ? "" : page["nextCursor"].get<std::string>();
  } while (!cursor.empty());
  CHECK(paged.size() == 5);
  std::vector<std::int64_t> all;
  const json first_page = api.Ok("GET", "/alarms");
  for (const auto& a : first_page["items"]) {
    all.push_back(a["id"].get<std::int64_t>());
  }
  CHECK(paged == all);
}

TEST_CASE(
    "Alarms: a condition with a duration raises only once it has held - by the sweep without posts - "
    "and a post that ends it forgets it",
    "[integration][alarms]") {
  Stack stack;
  stack.AddDevice("dev01");
  stack.AddDevice("dev02");
  Api api(stack);
  INFO(api.process.Log());
  const std::int64_t busy =
      api.Rule(json{{"name", "busy"}, {"severity", "info"}, {"when", "RunCount > 100"}, {"forS", 2}});
  GatewayProcess gateway(stack, "gw-alarm-2");
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto d1 = stack.Connect("dev01");
  auto d2 = stack.Connect("dev02");

  // dev02: the condition starts holding and a post ends it before it is raised.
  PostValues(*d2, "dev02", {{"RunCount", 150}});
  PostValues(*d2, "dev02", {{"RunCount", 50}});
  CHECK(Scalar(stack, "SELECT count(*) FROM alarm_pending") == 0);

  // dev01: one post, then silence: the sweep raises it once it has held 2 s.
  PostValues(*d1, "dev01", {{"RunCount", 150}});
  const std::int64_t since = Scalar(stack, "SELECT iot_ms(since) FROM alarm_pending");
  REQUIRE(since > 0);
  REQUIRE(iot::testing::PollUntil([&] { return !api.Alarms(busy, "dev01").empty(); }, 20s, 100ms));
  auto alarm = api.Alarms(busy, "dev01")[0];
  CHECK(alarm["state"] == "active");
  CHECK(alarm["raisedAt"].get<std::int64_t>() >= since + 2000);
  CHECK(alarm["lastValue"] == json{{"RunCount", 150}});
  CHECK(Scalar(stack, "SELECT count(*) FROM alarm_pending") == 0);
  CHECK(api.Alarms(busy, "dev02").empty());
  // A repeat counts at once; without a clear condition it clears when the condition no longer holds.
  PostValues(*d1, "dev01", {{"RunCount", 160}});
  CHECK(api.Alarms(busy, "dev01")[0]["count"] == 2);
  PostValues(*d1, "dev01", {{"RunCount", 10}});
  CHECK(api.Alarms(busy, "dev01")[0]["state"] == "cleared");
}

TEST_CASE("Alarms: one open alarm per rule and device under a burst of matching posts through two gateways",
          "[integration][alarms]") {
  Stack stack;
  stack.AddDevice("dev01");
  Api api(stack);
  INFO(api.process.Log());
  const std::int64_t hot =
      api.Rule(json{{"name", "too hot"}, {"severity", "major"}, {"when", "TargetTemp > 30"}});
  // The per-device limit (100/s) is per gateway process; this burst is faster.
  const std::map<std::string, std::string> unlimited = {{"IOT_GATEWAY_DEVICE_RATE", "0"}};
  GatewayProcess g1(stack, "gw-alarm-a", unlimited);
  GatewayProcess g2(stack, "gw-alarm-b", unlimited);
  REQUIRE(g1.WaitConnected());
  REQUIRE(g2.WaitConnected());
  auto device = stack.Connect("dev01");
  constexpr int kBurst = 200;
  // Published back to back, the replies awaited afterwards: the shared subscription deals them to both.
  for (int i = 0; i < kBurst; ++i) {
    REQUIRE(device->Publish(PostTopic("dev01"), json{{"id", std::to_string(++g_id)},
                                                     {"version", "1.0"},
                                                     {"params", {{"TargetTemp", 31 + (i % 4)}}},
                                                     {"method", "thing.event.property.post"}}
                                                    .dump()));
  }
  int replies = 0;
  while (replies < kBurst) {
    auto m = device->WaitMessage(PostTopic("dev01") + "_reply", 20s);
    REQUIRE(m);
    CHECK(json::parse(m->payload)["code"] == 200);
    ++replies;
  }
  REQUIRE(replies == kBurst);
  INFO(g1.LogTail() << g2.LogTail());
  // Both gateways wrote (the burst was shared), and there is one alarm that counted every post.
  CHECK(g1.Metric("iot_gateway_messages_in_total{kind=\"property_post\"}") > 0);
  CHECK(g2.Metric("iot_gateway_messages_in_total{kind=\"property_post\"}") > 0);
  auto alarms = api.Alarms(hot, "dev01");
  REQUIRE(alarms.size() == 1);
  CHECK(alarms[0]["state"] == "active");
  CHECK(alarms[0]["count"] == kBurst);
  CHECK(Scalar(stack, "SELECT count(*) FROM alarms WHERE state <> 'cleared'") == 1);
}

TEST_CASE(
    "Alarms: state survives restarts of the gateway and the api - every change reaches a webhook through "
    "a forwarding rule",
    "[integration][alarms]") {
  Stack stack;
  stack.AddDevice("dev01");
  iot::testing::WebhookReceiver hook;
  auto api = std::make_unique<Api>(stack);
  INFO(api->process.Log());
  const std::int64_t busy =
      api->Rule(json{{"name", "busy"}, {"severity", "major"}, {"when", "RunCount > 100"}, {"forS", 3}});
  // A forwarding rule of kind alarm (a filter is refused: the database writes these messages).
  json forward = {{"name", "pager"},
                  {"source", {{"productKey", kPk}, {"kinds", {"alarm"}}}},
                  {"destinations", json::array({{{"type", "webhook"}, {"url", hook.Url()}}})}};
  json filtered = forward;
  filtered["filter"] = "RunCount > 1";
  CHECK(api->Call("POST", "/rules", filtered).status == 400);
  api->Ok("POST", "/rules", forward, 201);

  auto gateway = std::make_unique<GatewayProcess>(stack, "gw-alarm-r", kFastForward);
  REQUIRE(gateway->WaitConnected());
  auto device = stack.Connect("dev01");
  PostValues(*device, "dev01", {{"RunCount", 150}});
  const std::int64_t since = Scalar(stack, "SELECT iot_ms(since) FROM alarm_pending");
  REQUIRE(since > 0);
  // The gateway dies while the condition is pending; the next one raises it from the stored state.
  gateway->Process().Kill();
  gateway = std::make_unique<GatewayProcess>(stack, "gw-alarm-r", kFastForward);
  REQUIRE(gateway->WaitConnected());
  INFO(gateway->LogTail());
  REQUIRE(iot::testing::PollUntil([&] { return !api->Alarms(busy, "dev01").empty(); }, 20s, 100ms));
  auto alarm = api->Alarms(busy, "dev01")[0];
  CHECK(alarm["raisedAt"].get<std::int64_t>() >= since + 3000);
  const std::string id = std::to_string(alarm["id"].get<std::int64_t>());

  // The API restarts: the alarm is still there and can be acknowledged.
  api.reset();
  api = std::make_unique<Api>(stack);
  const std::string op = api->Token("pager duty", "operator");
  CHECK(api->Ok("GET", "/alarms/" + id)["state"] == "active");
  CHECK(api->Ok("POST", "/alarms/" + id + ":ack", nullptr, 200, op)["state"] == "acknowledged");
  // The gateway restarts (gracefully): a repeat counts on the same alarm, the clear condition clears it.
  gateway.reset();
  gateway = std::make_unique<GatewayProcess>(stack, "gw-alarm-r", kFastForward);
  REQUIRE(gateway->WaitConnected());
  PostValues(*device, "dev01", {{"RunCount", 170}});
  auto repeated = api->Ok("GET", "/alarms/" + id);
  CHECK(repeated["state"] == "acknowledged");
  CHECK(repeated["count"] == 2);
  PostValues(*device, "dev01", {{"RunCount", 20}});
  CHECK(api->Ok("GET", "/alarms/" + id)["state"] == "cleared");

  // Every change of state reached the webhook, in order: raised, acknowledged, cleared.
  auto changes = [&] {
    std::vector<std::string> out;
    std::set<std::string> seen;  // at least once: a redelivery keeps its messageId
    for (const auto& m : hook.Received()) {
      if (m.payload.value("id", std::int64_t{0}) == alarm["id"].get<std::int64_t>() &&
          seen.insert(m.message_id).second) {
        out.push_back(m.payload["change"].get<std::string>());
      }
    }
    return out;
  };
  // A forwarder that was killed holds its rule's lease until it expires (15 s) before another takes over.
  REQUIRE(iot::testing::PollUntil([&] { return changes().size() >= 3; }, 60s, 200ms));
  CHECK(changes() == std::vector<std::string>{"raised", "acknowledged", "cleared"});
  const auto received = hook.Received();
  const auto& first = received.front();
  CHECK(first.topic == std::string("/") + kPk + "/dev01/thing/alarm/raised");
  CHECK(first.device_name == "dev01");
  CHECK(first.payload["rule"] == "busy");
  CHECK(first.payload["severity"] == "major");
  CHECK(first.payload["state"] == "active");
  CHECK(first.payload["iotId"].is_string());
}

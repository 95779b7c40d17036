// Device control through the whole platform: REST -> iot-api -> Mosquitto (plugin ACL) -> a real
// MQTT device -> (gateway or API) -> PostgreSQL -> REST. Sync calls over RRPC, async calls and
// property sets with the offline queue, expiry, rejection after a model change, restarts, desired
// properties, rate and queue limits.

#include <future>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/store/devices.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/mosquitto_process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using iot::gateway::itest::kPk;

namespace {

// The stack of these tests: database + broker (gateway_stack), one gateway, one API with device
// control configured as the broker's iot-api service account.
struct ControlStack {
  explicit ControlStack(iot::api::itest::Env extra = {}) {
    gateway = std::make_unique<iot::gateway::itest::GatewayProcess>(stack, "gw-control");
    REQUIRE(gateway->WaitConnected(10s));
    StartApi(std::move(extra));
  }

  void StartApi(iot::api::itest::Env extra = {}) {
    iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                                {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                                {"IOT_ONLINE_GRACE_MS", "100"}};
    for (auto& [k, v] : extra) {
      env[k] = v;
    }
    api_env = env;
    api.reset();
    api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }

  iot::testing::HttpResponse Call(const std::string& method, const std::string& path,
                                  const json& body = nullptr,
                                  const std::string& token = iot::api::itest::kAdminToken) {
    iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + token}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1/products/" + std::string(kPk) + path,
                                     headers, text);
  }

  std::string Status(const std::string& dn) {
    auto r = Call("GET", "/devices/" + dn);
    return r.status == 200 ? json::parse(r.body).value("status", "") : "http " + std::to_string(r.status);
  }

  json GetCall(const std::string& dn, const std::string& call_id) {
    auto r = Call("GET", "/devices/" + dn + "/service-calls/" + call_id);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  }

  // Polls the call until its status is `status`; returns the last document read.
  json WaitCallStatus(const std::string& dn, const std::string& call_id, const std::string& status,
                      std::chrono::milliseconds timeout = 5s) {
    json last;
    iot::testing::PollUntil(
        [&] {
          last = GetCall(dn, call_id);
          return last["status"] == status;
        },
        timeout, 20ms);
    return last;
  }

  // A device connected and subscribed to its commands (thing/# and RRPC), shown online by the API.
  std::unique_ptr<iot::testing::MqttTestClient> Online(const std::string& dn) {
    auto device = stack.Connect(dn);
    REQUIRE(device->Subscribe("/sys/" + std::string(kPk) + "/" + dn + "/rrpc/request/+", 0) == 0);
    REQUIRE(iot::testing::PollUntil([&] { return Status(dn) == "online"; }, 20s, 20ms));
    std::this_thread::sleep_for(200ms);  // past IOT_ONLINE_GRACE_MS: commands go out at once
    return device;
  }

  iot::gateway::itest::Stack stack;
  std::unique_ptr<iot::gateway::itest::GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
  iot::api::itest::Env api_env;
};

std::string Topic(const std::string& dn, const std::string& suffix) {
  return "/sys/" + std::string(kPk) + "/" + dn + "/" + suffix;
}

json Reply(const json& request, int code, const json& data = json::object()) {
  return {{"id", request["id"]}, {"code", code}, {"data", data}};
}

}  // namespace

TEST_CASE("Control: property set and async service to an online device complete from its reply",
          "[integration][control]") {
  ControlStack s;
  s.stack.AddDevice("lamp-0001");
  auto device = s.Online("lamp-0001");

  // Property set: strictly validated, sent, completed by set_reply.
  auto r =
      s.Call("POST", "/devices/lamp-0001/properties", {{"params", {{"PowerOn", 1}, {"TargetTemp", 21.5}}}});
  REQUIRE(r.status == 202);
  json call = json::parse(r.body);
  CHECK(call["identifier"] == "set");
  CHECK(call["status"] == "sent");
  CHECK(call["requestedBy"] == "bootstrap-admin");
  auto msg = device->WaitMessage(Topic("lamp-0001", "thing/service/property/set"));
  REQUIRE(msg);
  json request = json::parse(msg->payload);
  CHECK(request["method"] == "thing.service.property.set");
  CHECK(request["params"] == json({{"PowerOn", 1}, {"TargetTemp", 21.5}}));
  REQUIRE(
      device->Publish(Topic("lamp-0001", "thing/service/property/set_reply"), Reply(request, 200).dump()));
  json done = s.WaitCallStatus("lamp-0001", call["callId"], "succeeded");
  CHECK(done["status"] == "succeeded");
  CHECK(done["code"] == 200);
  CHECK(done["repliedAt"].is_number());
  // The device is the source of truth: nothing became a latest value.
  CHECK(json::parse(s.Call("GET", "/devices/lamp-0001/properties").body)["items"].empty());

  // Invalid params: 400 with every problem, nothing recorded or sent.
  const auto calls_before =
      s.stack.Count("SELECT count(*) FROM service_calls WHERE device_id = $1", s.stack.DeviceId("lamp-0001"));
  r = s.Call("POST", "/devices/lamp-0001/properties",
             {{"params", {{"TargetTemp", 99}, {"Humidity", 10}, {"Nope", 1}}}});
  REQUIRE(r.status == 400);
  json problem = json::parse(r.body);
  CHECK(problem["errors"].size() == 3);
  CHECK(s.stack.Count("SELECT count(*) FROM service_calls WHERE device_id = $1",
                      s.stack.DeviceId("lamp-0001")) == calls_before);
  CHECK(
      s.Call("POST", "/devices/lamp-0001/properties", {{"params", {{"PowerOn", 1}}}, {"extra", 1}}).status ==
      400);

  // Async service: the device's error code fails the call.
  r = s.Call("POST", "/devices/lamp-0001/services/Reboot", {{"params", {{"DelaySec", 5}}}});
  REQUIRE(r.status == 202);
  call = json::parse(r.body);
  CHECK(call["callType"] == "async");
  msg = device->WaitMessage(Topic("lamp-0001", "thing/service/Reboot"));
  REQUIRE(msg);
  request = json::parse(msg->payload);
  CHECK(request["method"] == "thing.service.Reboot");
  json reply = Reply(request, 9201);
  reply["message"] = "busy";
  REQUIRE(device->Publish(Topic("lamp-0001", "thing/service/Reboot_reply"), reply.dump()));
  done = s.WaitCallStatus("lamp-0001", call["callId"], "failed");
  CHECK(done["code"] == 9201);
  CHECK(done["message"] == "busy");

  // Async service whose answer does not match outputData: failed with the reason.
  r = s.Call("POST", "/devices/lamp-0001/services/Reboot", {{"params", {{"DelaySec", 1}}}});
  REQUIRE(r.status == 202);
  call = json::parse(r.body);
  msg = device->WaitMessage(Topic("lamp-0001", "thing/service/Reboot"));
  REQUIRE(msg);
  REQUIRE(device->Publish(Topic("lamp-0001", "thing/service/Reboot_reply"),
                          Reply(json::parse(msg->payload), 200, {{"Bogus", 1}}).dump()));
  done = s.WaitCallStatus("lamp-0001", call["callId"], "failed");
  CHECK(done["status"] == "failed");
  CHECK(done["message"].get<std::string>().find("outputData") != std::string::npos);

  // Unknown service: 404. Viewer: 403.
  CHECK(s.Call("POST", "/devices/lamp-0001/services/NoSuch", json::object()).status == 404);
  auto created = iot::testing::HttpRequest(
      s.api->Port(), "POST", "/api/v1/tokens",
      {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}, {"Content-Type", "application/json"}},
      json({{"name", "watcher"}, {"role", "viewer"}}).dump());
  REQUIRE(created.status == 201);
  const std::string viewer = json::parse(created.body)["token"];
  CHECK(s.Call("POST", "/devices/lamp-0001/properties", {{"params", {{"PowerOn", 0}}}}, viewer).status ==
        403);
  CHECK(s.Call("GET", "/devices/lamp-0001/service-calls", nullptr, viewer).status == 200);

  // Every command is in the audit log with who asked.
  auto audit =
      json::parse(iot::testing::HttpRequest(s.api->Port(), "GET", "/api/v1/audit",
                                            {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}})
                      .body);
  int commands = 0;
  for (const auto& item : audit["items"]) {
    const std::string action = item.value("action", "");
    if (action == "device.property.set" || action == "device.service.invoke") {
      ++commands;
    }
  }
  CHECK(commands == 3);
}

TEST_CASE("Control: sync services over RRPC answer, fail, time out, and record a late answer",
          "[integration][control]") {
  ControlStack s;
  s.stack.AddDevice("sync-0001");
  s.stack.AddDevice("sync-0002");
  auto device = s.Online("sync-0001");
  const std::string path = "/devices/sync-0001/services/SelfTest";

  // The device answers on the RRPC response topic with the messageId from the request topic.
  auto answer = [&](int code, const json& data) {
    auto msg = device->WaitMessageWhere(
        [](const auto& m) { return m.topic.find("/rrpc/request/") != std::string::npos; });
    REQUIRE(msg);
    json request = json::parse(msg->payload);
    CHECK(request["method"] == "thing.service.SelfTest");
    const std::string message_id = msg->topic.substr(msg->topic.rfind('/') + 1);
    REQUIRE(device->Publish(Topic("sync-0001", "rrpc/response/" + message_id),
                            Reply(request, code, data).dump(), 0));
  };

  auto pending = std::async(std::launch::async, [&] {
    return s.Call("POST", path, {{"params", {{"Depth", 1}}}});
  });
  answer(200, {{"Passed", 1}, {"Report", "all good"}});
  auto r = pending.get();
  REQUIRE(r.status == 200);
  json call = json::parse(r.body);
  CHECK(call["callType"] == "sync");
  CHECK(call["status"] == "succeeded");
  CHECK(call["output"] == json({{"Passed", 1}, {"Report", "all good"}}));

  pending = std::async(std::launch::async, [&] {
    return s.Call("POST", path, {{"params", {{"Depth", 0}}}});
  });
  answer(460, json::object());
  r = pending.get();
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["status"] == "failed");
  CHECK(json::parse(r.body)["code"] == 460);

  pending = std::async(std::launch::async, [&] {
    return s.Call("POST", path, {{"params", {{"Depth", 0}}}});
  });
  answer(200, {{"Passed", "yes"}});
  r = pending.get();
  REQUIRE(r.status == 200);
  call = json::parse(r.body);
  CHECK(call["status"] == "failed");
  CHECK(call["message"].get<std::string>().find("outputData") != std::string::npos);

  // No answer within timeoutMs: 504 with the call; the late answer is still recorded.
  pending = std::async(std::launch::async, [&] {
    return s.Call("POST", path, {{"params", {{"Depth", 1}}}, {"timeoutMs", 300}});
  });
  r = pending.get();
  REQUIRE(r.status == 504);
  json problem = json::parse(r.body);
  REQUIRE(problem.contains("serviceCall"));
  CHECK(problem["serviceCall"]["status"] == "timeout");
  answer(200, {{"Passed", 0}, {"Report", "slow"}});
  json late = s.WaitCallStatus("sync-0001", problem["serviceCall"]["callId"], "succeeded");
  CHECK(late["status"] == "succeeded");
  CHECK(late["output"]["Report"] == "slow");

  // Offline (never connected) device: 409 at once. Bad params: 400.
  CHECK(s.Call("POST", "/devices/sync-0002/services/SelfTest", {{"params", {{"Depth", 1}}}}).status == 409);
  CHECK(s.Call("POST", path, {{"params", {{"Depth", 7}}}}).status == 400);
  CHECK(s.Call("POST", path, {{"params", {{"Depth", 1}}}, {"timeoutMs", 60000}}).status == 400);

  // A sync call is sent as it is requested: both times are the same reading of one clock, never sentAt
  // before requestedAt (the database's clock used to stamp requestedAt after the API had read sentAt,
  // a fraction of a millisecond later: several calls cross a millisecond boundary at least once).
  for (int i = 0; i < 10; ++i) {
    pending = std::async(std::launch::async, [&] {
      return s.Call("POST", path, {{"params", {{"Depth", 1}}}});
    });
    answer(200, {{"Passed", 1}, {"Report", "again"}});
    r = pending.get();
    REQUIRE(r.status == 200);
    call = json::parse(r.body);
    REQUIRE(call["sentAt"].is_number_integer());
    CHECK(call["sentAt"] == call["requestedAt"]);
    CHECK(call["repliedAt"].get<std::int64_t>() >= call["sentAt"].get<std::int64_t>());
  }
}

TEST_CASE(
    "Control: an offline device's commands are queued, delivered in order on connect, expire or get rejected",
    "[integration][control]") {
  ControlStack s(iot::api::itest::Env{{"IOT_DEVICE_QUEUE_LIMIT", "6"}});
  s.stack.AddDevice("queue-001");
  const std::string dn = "queue-001";

  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r =
        s.Call("POST", "/devices/" + dn + "/properties", {{"params", {{"Label", "v" + std::to_string(i)}}}});
    REQUIRE(r.status == 202);
    json call = json::parse(r.body);
    CHECK(call["status"] == "queued");
    ids.push_back(call["callId"]);
  }
  auto reboot = s.Call("POST", "/devices/" + dn + "/services/Reboot", {{"params", {{"DelaySec", 3}}}});
  REQUIRE(reboot.status == 202);
  const std::string reboot_id = json::parse(reboot.body)["callId"];
  // Long enough to be still queued when the bound is checked below (at 200 ms a loaded machine let it expire
  // first, and the seventh fitted), short enough to expire while the device is away.
  auto short_lived =
      s.Call("POST", "/devices/" + dn + "/properties", {{"params", {{"FanLevel", 2}}}, {"ttlMs", 2500}});
  REQUIRE(short_lived.status == 202);
  const std::string expiring_id = json::parse(short_lived.body)["callId"];
  // Queue bound (6 here): the sixth fits, the seventh gets 429.
  REQUIRE(s.Call("POST", "/devices/" + dn + "/properties", {{"params", {{"Label", "v3"}}}}).status == 202);
  auto full = s.Call("POST", "/devices/" + dn + "/properties", {{"params", {{"Label", "v4"}}}});
  CHECK(full.status == 429);

  // Time to live passes while the device is away.
  CHECK(s.WaitCallStatus(dn, expiring_id, "expired", 12s)["status"] == "expired");

  // A newly published model without Reboot rejects the queued Reboot.
  json model = json::parse(iot::gateway::itest::ReadFixture("tsl/valid/reference_example.json"));
  json services = json::array();
  for (const auto& svc : model["services"]) {
    if (svc["identifier"] != "Reboot") {
      services.push_back(svc);
    }
  }
  model["services"] = services;
  s.stack.PublishModel(model.dump());
  json rejected = s.WaitCallStatus(dn, reboot_id, "rejected", 5s);
  CHECK(rejected["status"] == "rejected");

  // The device connects: the remaining commands arrive in request order.
  auto device = s.Online(dn);
  std::vector<std::string> labels;
  for (int i = 0; i < 4; ++i) {
    auto msg = device->WaitMessage(Topic(dn, "thing/service/property/set"), 5s);
    REQUIRE(msg);
    json request = json::parse(msg->payload);
    labels.push_back(request["params"]["Label"]);
    REQUIRE(device->Publish(Topic(dn, "thing/service/property/set_reply"), Reply(request, 200).dump()));
  }
  CHECK(labels == std::vector<std::string>{"v0", "v1", "v2", "v3"});
  for (const auto& id : ids) {
    json done = s.WaitCallStatus(dn, id, "succeeded");
    CHECK(done["status"] == "succeeded");
    // Queued, then sent on connect: one clock orders the two.
    CHECK(done["sentAt"].get<std::int64_t>() >= done["requestedAt"].get<std::int64_t>());
  }
  CHECK(device->WaitMessage(Topic(dn, "thing/service/Reboot"), 500ms) == std::nullopt);

  // A disabled device takes no commands.
  auto patched = s.Call("PATCH", "/devices/" + dn, {{"enabled", false}});
  REQUIRE(patched.status == 200);
  CHECK(s.Call("POST", "/devices/" + dn + "/properties", {{"params", {{"Label", "x"}}}}).status == 409);
}

TEST_CASE("Control: the downlink rate per device answers 429", "[integration][control]") {
  ControlStack s(iot::api::itest::Env{{"IOT_DOWNLINK_RATE", "2"}});
  s.stack.AddDevice("rate-0001");
  int accepted = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = s.Call("POST", "/devices/rate-0001/properties", {{"params", {{"PowerOn", i % 2}}}});
    if (r.status == 202) {
      ++accepted;
    }
    if (r.status == 429) {
      ++limited;
      CHECK(r.headers["retry-after"] == "1");
    }
  }
  CHECK(accepted >= 2);
  CHECK(limited >= 1);
  CHECK(accepted + limited == 6);
}

TEST_CASE("Control: params nested 100,000 deep get 400 and the API keeps serving", "[integration][control]") {
  ControlStack s;
  s.stack.AddDevice("deep-0001");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + iot::api::itest::kAdminToken},
                                       {"Content-Type", "application/json"}};
  const std::string base = "/api/v1/products/" + std::string(kPk) + "/devices/deep-0001";
  for (const char* path : {"/properties", "/services/Reboot"}) {
    INFO(path);
    auto r = iot::testing::HttpRequest(s.api->Port(), "POST", base + path, headers,
                                       R"({"params":{"PowerOn":)" + deep + "}}");
    CHECK(r.status == 400);
    CHECK(json::parse(r.body)["detail"] == "JSON nested deeper than 64");
  }
  // 64 levels in all (the body object, params, 62 arrays) are accepted as JSON (and then refused
  // by the thing model, not by the parser).
  auto at_limit = iot::testing::HttpRequest(
      s.api->Port(), "POST", base + "/properties", headers,
      R"({"params":{"PowerOn":)" + std::string(62, '[') + std::string(62, ']') + "}}");
  CHECK(json::parse(at_limit.body).value("detail", "") != "JSON nested deeper than 64");
  INFO(s.api->Log());
  CHECK(s.Call("GET", "/devices/deep-0001").status == 200);
}

TEST_CASE("Control: commands survive restarts of the API and of the gateway", "[integration][control]") {
  ControlStack s;
  s.stack.AddDevice("restart-01");
  const std::string dn = "restart-01";

  // Queued while offline, then the API restarts: the new one delivers it when the device connects.
  auto r = s.Call("POST", "/devices/" + dn + "/properties", {{"params", {{"Label", "after-restart"}}}});
  REQUIRE(r.status == 202);
  const std::string queued_id = json::parse(r.body)["callId"];
  s.StartApi();
  auto device = s.Online(dn);
  auto msg = device->WaitMessage(Topic(dn, "thing/service/property/set"), 5s);
  REQUIRE(msg);
  json request = json::parse(msg->payload);
  CHECK(request["params"]["Label"] == "after-restart");
  REQUIRE(device->Publish(Topic(dn, "thing/service/property/set_reply"), Reply(request, 200).dump()));
  CHECK(s.WaitCallStatus(dn, queued_id, "succeeded")["status"] == "succeeded");

  // Sent, then the gateway goes away; the device's answer waits in the broker for the gateway's
  // session and completes the call when a gateway is back.
  r = s.Call("POST", "/devices/" + dn + "/services/Reboot", {{"params", {{"DelaySec", 2}}}});
  REQUIRE(r.status == 202);
  const std::string sent_id = json::parse(r.body)["callId"];
  msg = device->WaitMessage(Topic(dn, "thing/service/Reboot"), 5s);
  REQUIRE(msg);
  s.gateway.reset();
  REQUIRE(
      device->Publish(Topic(dn, "thing/service/Reboot_reply"), Reply(json::parse(msg->payload), 200).dump()));
  CHECK(s.GetCall(dn, sent_id)["status"] == "sent");
  s.gateway = std::make_unique<iot::gateway::itest::GatewayProcess>(s.stack, "gw-control");
  REQUIRE(s.gateway->WaitConnected(10s));
  CHECK(s.WaitCallStatus(dn, sent_id, "succeeded", 10s)["status"] == "succeeded");

  // A sync call in flight when the API dies: the new API times it out and records the late answer.
  auto pending = std::async(std::launch::async, [&] {
    return s.Call("POST", "/devices/" + dn + "/services/SelfTest",
                  {{"params", {{"Depth", 0}}}, {"timeoutMs", 1000}});
  });
  msg = device->WaitMessageWhere(
      [](const auto& m) { return m.topic.find("/rrpc/request/") != std::string::npos; });
  REQUIRE(msg);
  s.api->Process().Kill();
  CHECK_THROWS(pending.get());  // the connection dies with the API
  s.StartApi();
  auto calls = json::parse(s.Call("GET", "/devices/" + dn + "/service-calls?identifier=SelfTest").body);
  REQUIRE(calls["items"].size() == 1);
  const std::string sync_id = calls["items"][0]["callId"];
  CHECK(s.WaitCallStatus(dn, sync_id, "timeout", 5s)["status"] == "timeout");
  const std::string message_id = msg->topic.substr(msg->topic.rfind('/') + 1);
  REQUIRE(device->Publish(Topic(dn, "rrpc/response/" + message_id),
                          Reply(json::parse(msg->payload), 200, {{"Passed", 1}, {"Report", "late"}}).dump(),
                          0));
  CHECK(s.WaitCallStatus(dn, sync_id, "succeeded", 5s)["output"]["Report"] == "late");
}

TEST_CASE(
    "Control: desired properties with versions, conflicts, device get and delete, push to an online device",
    "[integration][control]") {
  ControlStack s;
  s.stack.AddDevice("desired-01");
  const std::string dn = "desired-01";
  const std::string path = "/devices/" + dn + "/desired-properties";

  auto r = s.Call("PUT", path, {{"items", {{"TargetTemp", 22.5}, {"Label", "hello"}}}});
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["versions"] == json({{"Label", 1}, {"TargetTemp", 1}}));
  json got = json::parse(s.Call("GET", path).body);
  CHECK(got["items"]["TargetTemp"] == json({{"value", 22.5}, {"version", 1}}));

  // Versions: a stale one conflicts, the current one passes.
  CHECK(s.Call("PUT", path, {{"items", {{"TargetTemp", 23.0}}}, {"versions", {{"TargetTemp", 0}}}}).status ==
        409);
  r = s.Call("PUT", path, {{"items", {{"TargetTemp", 23.0}}}, {"versions", {{"TargetTemp", 1}}}});
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["versions"]["TargetTemp"] == 2);
  // Read-only, unknown, out of range: 400 naming each item.
  r = s.Call("PUT", path, {{"items", {{"Humidity", 10.0}, {"Nope", 1}, {"TargetTemp", 99.0}}}});
  REQUIRE(r.status == 400);
  CHECK(json::parse(r.body)["errors"].size() == 3);
  // null clears and bumps the version.
  r = s.Call("PUT", path, {{"items", {{"Label", nullptr}}}});
  REQUIRE(r.status == 200);
  got = json::parse(s.Call("GET", path).body);
  CHECK(got["items"]["Label"] == json({{"value", nullptr}, {"version", 2}}));

  // The device asks for its desired values, and deletes one with its version.
  auto device = s.Online(dn);
  auto reply = iot::gateway::itest::Request(*device, Topic(dn, "thing/property/desired/get"),
                                            {{"id", "7"},
                                             {"version", "1.0"},
                                             {"method", "thing.property.desired.get"},
                                             {"params", {"TargetTemp", "Label"}}});
  REQUIRE(reply);
  CHECK((*reply)["code"] == 200);
  CHECK((*reply)["data"]["TargetTemp"] == json({{"value", 23.0}, {"version", 2}}));
  CHECK_FALSE((*reply)["data"].contains("Label"));
  reply = iot::gateway::itest::Request(*device, Topic(dn, "thing/property/desired/delete"),
                                       {{"id", "8"},
                                        {"version", "1.0"},
                                        {"method", "thing.property.desired.delete"},
                                        {"params", {{"TargetTemp", {{"version", 2}}}}}});
  REQUIRE(reply);
  CHECK((*reply)["code"] == 200);
  got = json::parse(s.Call("GET", path).body);
  CHECK(got["items"]["TargetTemp"]["value"].is_null());

  // A change while the device is online is pushed to it as a property set.
  r = s.Call("PUT", path, {{"items", {{"FanLevel", 1}}}});
  REQUIRE(r.status == 200);
  auto msg = device->WaitMessage(Topic(dn, "thing/service/property/set"), 5s);
  REQUIRE(msg);
  CHECK(json::parse(msg->payload)["params"] == json({{"FanLevel", 1}}));
}

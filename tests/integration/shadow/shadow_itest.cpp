// The device shadow (/shadow/update, /shadow/get; REST .../shadow) through the whole platform: the
// device SDK's shadow calls, the broker's ACL, the gateway's handler and writer, PostgreSQL, and the
// API's GET/PUT with the "control" push to an online device.

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/common/clock.hpp"
#include "iot/device/device.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"

using iot::device::Device;
using iot::device::DeviceOptions;
using iot::device::ShadowReply;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::kSecret;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Database, broker, one gateway, one API with its broker link; devices through the SDK.
struct ShadowStack {
  ShadowStack() {
    gateway = std::make_unique<GatewayProcess>(stack, "gw-shadow");
    REQUIRE(gateway->WaitConnected());
    iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                                {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret}};
    api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }
  ~ShadowStack() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n" << gateway->LogTail() << "\n----- api log\n" << api->Log() << "\n";
    }
  }

  std::unique_ptr<Device> Connect(const std::string& dn) {
    DeviceOptions o;
    o.broker_uri = stack.Broker().Uri();
    o.product_key = kPk;
    o.device_name = dn;
    o.device_secret = kSecret;
    o.request_deadline = 10s;
    auto d = std::make_unique<Device>(std::move(o));
    return d;
  }

  iot::testing::HttpResponse Call(const std::string& method, const std::string& dn,
                                  const json& body = nullptr,
                                  const std::string& token = iot::api::itest::kAdminToken) {
    iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + token}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method,
                                     "/api/v1/products/" + std::string(kPk) + "/devices/" + dn + "/shadow",
                                     headers, text);
  }

  std::string Status(const std::string& dn) {
    auto r = iot::testing::HttpRequest(api->Port(), "GET",
                                       "/api/v1/products/" + std::string(kPk) + "/devices/" + dn,
                                       {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}});
    return r.status == 200 ? json::parse(r.body).value("status", "") : "";
  }

  Stack stack;
  std::unique_ptr<GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
};

std::string ErrorCode(const ShadowReply& r) { return std::to_string(r.code); }

json Nested(int levels) {
  json v = 1;
  for (int i = 0; i < levels; ++i) {
    v = json{{"k", v}};
  }
  return v;
}

}  // namespace

TEST_CASE("Shadow: report, get and delete round trip with versions", "[integration][shadow]") {
  ShadowStack s;
  s.stack.AddDevice("shadow01");
  auto device = s.Connect("shadow01");
  REQUIRE(device->Connect(10s));

  ShadowReply empty = device->ShadowGet();
  REQUIRE(empty.outcome == iot::device::Outcome::kReplied);
  CHECK(empty.code == 407);

  ShadowReply r = device->ShadowReport({{"color", "red"}, {"temp", 21}, {"cfg", {{"a", 1}}}}, 1);
  REQUIRE(r.ok());
  CHECK(r.version == 1);
  ShadowReply conflict = device->ShadowReport({{"color", "blue"}}, 1);
  CHECK(conflict.code == 409);

  ShadowReply got = device->ShadowGet();
  REQUIRE(got.ok());
  CHECK(got.method == "reply");
  CHECK(got.version == 1);
  CHECK(got.state["reported"] == json{{"color", "red"}, {"temp", 21}, {"cfg", {{"a", 1}}}});
  const std::int64_t now_s = iot::NowMs() / 1000;
  const std::int64_t stamp = got.metadata["reported"]["color"]["timestamp"].get<std::int64_t>();
  CHECK(stamp <= now_s);  // seconds, not milliseconds
  CHECK(stamp > now_s - 60);

  // "null" removes one attribute (update or delete), or all of them.
  REQUIRE(device->ShadowReport({{"cfg", {{"a", "null"}, {"b", 2}}}, {"temp", "null"}}, 2).ok());
  REQUIRE(device->ShadowDelete({{"color", "null"}}, 3).ok());
  got = device->ShadowGet();
  CHECK(got.state["reported"] == json{{"cfg", {{"b", 2}}}});
  CHECK(got.version == 3);
  CHECK(device->ShadowDelete("null", 4).ok());
  CHECK(device->ShadowGet().code == 407);

  // -1 resets the version to 0.
  ShadowReply reset = device->ShadowReport({{"color", "green"}}, -1);
  REQUIRE(reset.ok());
  CHECK(reset.version == 0);

  // Malformed requests get their codes.
  CHECK(device->ShadowSend("{not json").code == 400);
  CHECK(device->ShadowSend(R"({"state":{"reported":{"a":1}}})").code == 401);
  CHECK(device->ShadowSend(R"({"method":"update","version":9})").code == 402);
  CHECK(device->ShadowSend(R"({"method":"update","state":{"reported":{"a":1}},"version":"9"})").code == 403);
  CHECK(device->ShadowSend(R"({"method":"update","state":{},"version":9})").code == 404);
  CHECK(device->ShadowSend(R"({"method":"update","state":{"reported":{}},"version":9})").code == 405);
  CHECK(device->ShadowSend(R"({"method":"merge","state":{"reported":{"a":1}},"version":9})").code == 406);

  // The shadow is not the thing model's desired properties.
  auto desired = iot::testing::HttpRequest(
      s.api->Port(), "GET", "/api/v1/products/" + std::string(kPk) + "/devices/shadow01/desired-properties",
      {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}});
  REQUIRE(desired.status == 200);
  CHECK(json::parse(desired.body)["items"] == json::object());
}

TEST_CASE("Shadow: every limit is answered with its code", "[integration][shadow]") {
  ShadowStack s;
  s.stack.AddDevice("shadow02");
  auto device = s.Connect("shadow02");
  REQUIRE(device->Connect(10s));

  // Depth: 5 levels of reported pass, 6 do not (400).
  CHECK(device->ShadowReport(Nested(5), 1).ok());
  CHECK(ErrorCode(device->ShadowReport(Nested(6), 2)) == "400");
  // Size: 16 KB (400).
  CHECK(ErrorCode(device->ShadowReport({{"blob", std::string(17 * 1024, 'x')}}, 2)) == "400");
  // Attributes: 128 (408).
  json many = json::object();
  for (int i = 0; i < 129; ++i) {
    many["a" + std::to_string(i)] = i;
  }
  CHECK(ErrorCode(device->ShadowReport(many, 2)) == "408");
  CHECK(device->ShadowGet().version == 1);  // nothing of the refused requests was stored

  // Rate: 20 requests per second per device (429), each one answered.
  iot::testing::MqttTestClient raw;
  iot::testing::DeviceConnect c;
  c.uri = s.stack.Broker().Uri();
  c.product_key = kPk;
  c.device_name = "shadow03";
  c.device_secret = kSecret;
  s.stack.AddDevice("shadow03");
  REQUIRE(iot::testing::PollUntil([&] { return raw.ConnectDevice(c) == 0; }, 3s, 50ms));
  const std::string get_topic = "/shadow/get/" + std::string(kPk) + "/shadow03";
  REQUIRE(raw.Subscribe(get_topic, 0) == 0);
  constexpr int kBurst = 40;
  for (int i = 0; i < kBurst; ++i) {
    REQUIRE(raw.Publish("/shadow/update/" + std::string(kPk) + "/shadow03", R"({"method":"get"})", 0));
  }
  int limited = 0;
  for (int i = 0; i < kBurst; ++i) {
    auto m = raw.WaitMessage(get_topic, 10s);
    REQUIRE(m.has_value());
    json body = json::parse(m->payload);
    if (body["payload"].value("content", json::object()).value("errorcode", "") == "429") {
      ++limited;
    }
  }
  CHECK(limited >= 1);
  CHECK(limited <= kBurst - 20);  // a second's burst of 20 went through
}

TEST_CASE("Shadow: operators read and change desired, devices get it online or on their next get",
          "[integration][shadow]") {
  ShadowStack s;
  s.stack.AddDevice("shadow04");
  s.stack.AddDevice("shadow05");

  auto r = s.Call("GET", "shadow04");
  REQUIRE(r.status == 200);
  json doc = json::parse(r.body);
  CHECK(doc["version"] == 0);
  CHECK(doc["state"] == json{{"reported", json::object()}, {"desired", json::object()}});
  CHECK(s.Call("GET", "nosuchdev1").status == 404);

  // Online: the change arrives at once as "control".
  auto online = s.Connect("shadow04");
  std::mutex mutex;
  std::vector<ShadowReply> controls;
  online->OnShadowControl([&](const ShadowReply& c) {
    std::lock_guard lock(mutex);
    controls.push_back(c);
  });
  REQUIRE(online->Connect(10s));
  REQUIRE(online->ShadowReport({{"color", "red"}}, 1).ok());
  REQUIRE(iot::testing::PollUntil([&] { return s.Status("shadow04") == "online"; }, 10s, 20ms));
  r = s.Call("PUT", "shadow04", {{"state", {{"desired", {{"color", "green"}}}}}, {"version", 2}});
  REQUIRE(r.status == 200);
  doc = json::parse(r.body);
  CHECK(doc["version"] == 2);
  CHECK(doc["state"]["desired"] == json{{"color", "green"}});
  CHECK(doc["state"]["reported"] == json{{"color", "red"}});
  CHECK(doc["metadata"]["desired"]["color"]["timestamp"].is_number_integer());
  REQUIRE(iot::testing::PollUntil(
      [&] {
        std::lock_guard lock(mutex);
        return !controls.empty();
      },
      10s, 20ms));
  {
    std::lock_guard lock(mutex);
    CHECK(controls[0].method == "control");
    CHECK(controls[0].version == 2);
    CHECK(controls[0].state["desired"] == json{{"color", "green"}});
    CHECK(controls[0].state["reported"] == json{{"color", "red"}});
  }
  // A version not greater than the stored one: 409; bad documents: 400.
  CHECK(s.Call("PUT", "shadow04", {{"state", {{"desired", {{"color", "blue"}}}}}, {"version", 2}}).status ==
        409);
  CHECK(s.Call("PUT", "shadow04", {{"state", {{"desired", Nested(6)}}}, {"version", 3}}).status == 400);
  CHECK(s.Call("PUT", "shadow04", {{"state", {{"desired", 5}}}, {"version", 3}}).status == 400);
  CHECK(s.Call("PUT", "shadow04", {{"state", json::object()}, {"version", 3}}).status == 400);
  CHECK(s.Call("PUT", "shadow04",
               {{"state", {{"desired", {{"a", 1}}}, {"reported", {{"a", 1}}}}}, {"version", 3}})
            .status == 400);  // operators change desired only
  // Roles: a viewer reads, an operator (or admin) changes.
  auto token = iot::testing::HttpRequest(
      s.api->Port(), "POST", "/api/v1/tokens",
      {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}, {"Content-Type", "application/json"}},
      json{{"name", "shadow-viewer"}, {"role", "viewer"}}.dump());
  REQUIRE(token.status == 201);
  const std::string viewer = json::parse(token.body)["token"];
  CHECK(s.Call("GET", "shadow04", nullptr, viewer).status == 200);
  CHECK(s.Call("PUT", "shadow04", {{"state", {{"desired", {{"a", 1}}}}}, {"version", 9}}, viewer).status ==
        403);
  // The device applies it, reports, and clears desired.
  REQUIRE(
      online
          ->ShadowSend(
              R"({"method":"update","state":{"reported":{"color":"green"},"desired":"null"},"version":3})")
          .ok());
  doc = json::parse(s.Call("GET", "shadow04").body);
  CHECK(doc["state"] == json{{"reported", {{"color", "green"}}}, {"desired", json::object()}});
  CHECK(doc["version"] == 3);

  // Offline: stored, and the device finds it with its next get.
  r = s.Call("PUT", "shadow05", {{"state", {{"desired", {{"mode", "eco"}, {"level", 3}}}}}, {"version", 1}});
  REQUIRE(r.status == 200);
  auto later = s.Connect("shadow05");
  REQUIRE(later->Connect(10s));
  ShadowReply got = later->ShadowGet();
  REQUIRE(got.ok());
  CHECK(got.state["desired"] == json{{"mode", "eco"}, {"level", 3}});
  CHECK(got.version == 1);
}

TEST_CASE("Shadow: the document survives a gateway restart", "[integration][shadow]") {
  ShadowStack s;
  s.stack.AddDevice("shadow06");
  {
    auto device = s.Connect("shadow06");
    REQUIRE(device->Connect(10s));
    REQUIRE(device->ShadowReport({{"firmware", "1.2.3"}}, 7).ok());
  }
  // Restarted as the same replica (same client id), as a service restart does. Under a new client id the old
  // persistent session (IOT_GATEWAY_END_SESSION_ON_STOP=0 here) would keep its share of the shared
  // subscription and take every other message for a day: README, "Leaving".
  s.gateway.reset();
  s.gateway = std::make_unique<GatewayProcess>(s.stack, "gw-shadow");
  REQUIRE(s.gateway->WaitConnected());
  auto device = s.Connect("shadow06");
  REQUIRE(device->Connect(10s));
  ShadowReply got = device->ShadowGet();
  REQUIRE(got.ok());
  CHECK(got.version == 7);
  CHECK(got.state["reported"] == json{{"firmware", "1.2.3"}});
  json doc = json::parse(s.Call("GET", "shadow06").body);
  CHECK(doc["version"] == 7);
  CHECK(doc["state"]["reported"] == json{{"firmware", "1.2.3"}});
}

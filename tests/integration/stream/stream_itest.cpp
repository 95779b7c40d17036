// GET /api/v1/stream end to end: the real PostgreSQL, Mosquitto with the plugin, iot-gateway and
// iot-api, real MQTT devices posting, and WebSocket clients. Each test has its own database, broker,
// gateway and API.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/common/clock.hpp"
#include "iot/store/alarms.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/products.hpp"
#include "iot/store/stream.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "iot/store/tokens.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "ws_client.hpp"

using iot::api::itest::ApiProcess;
using iot::api::itest::kAdminToken;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Stack;
using iot::stream::itest::WsClient;
using nlohmann::json;
using namespace std::chrono_literals;

using iot::NowMs;

namespace {

std::string Topic(const std::string& dn, const std::string& rest) {
  return std::string("/sys/") + kPk + "/" + dn + "/" + rest;
}

std::string PostJson(const std::string& id, json params) {
  return json{
      {"id", id}, {"version", "1.0"}, {"params", std::move(params)}, {"method", "thing.event.property.post"}}
      .dump();
}

auto OfType(const std::string& type, const std::string& dn = "") {
  return [type, dn](const json& m) {
    return m.value("type", "") == type && (dn.empty() || m.value("deviceName", "") == dn);
  };
}

double Metric(int port, const std::string& name) {
  auto r = iot::testing::HttpRequest(port, "GET", "/metrics", {{"Authorization", "Bearer " + kAdminToken}});
  const auto at = r.body.find("\n" + name + " ");
  if (at == std::string::npos) {
    return -1;
  }
  return std::stod(r.body.substr(at + name.size() + 2));
}

// Database with product kPk (reference thing model) and devices dev01, dev02; broker, gateway, API.
struct World {
  explicit World(iot::api::itest::Env api_env = {})
      : dev01(stack.AddDevice("dev01")), dev02(stack.AddDevice("dev02")) {
    gateway = std::make_unique<GatewayProcess>(
        stack, "gw-stream-" + std::to_string(::getpid()),
        std::map<std::string, std::string>{{"IOT_GATEWAY_DEVICE_RATE", "100000"}});
    REQUIRE(gateway->WaitConnected());
    // No maintenance: its first run moves rows out of the default partition, and a moved service call
    // is announced again (same state) by the stream trigger, which would blur the exact-count checks.
    api_env.emplace("IOT_MAINTENANCE_INTERVAL_S", "0");
    api = std::make_unique<ApiProcess>(std::move(api_env), stack.Dsn());
    // The listener is up (and holds the presence lock the writers look for) before devices post.
    REQUIRE(iot::testing::PollUntil([&] { return Metric(api->Port(), "iot_stream_listener_connected") == 1; },
                                    10s, 20ms));
    // So is the token listener that closes streams whose token is revoked elsewhere.
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("token cache on"); }, 10s, 20ms));
  }
  ~World() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n" << gateway->LogTail() << "\n----- api log\n" << api->Log() << "\n";
    }
  }

  std::unique_ptr<WsClient> Client(const std::string& token = kAdminToken) {
    WsClient::Options options;
    options.bearer = token;
    int status = 0;
    auto c = WsClient::Connect(api->Port(), options, &status);
    REQUIRE(c);
    return c;
  }

  static void Subscribe(WsClient& c, const std::string& pk, const std::string& dn = "") {
    json body{{"productKey", pk}};
    if (!dn.empty()) {
      body["deviceName"] = dn;
    }
    c.Send(json{{"subscribe", body}}.dump());
    auto ack = c.Next();
    REQUIRE(ack);
    REQUIRE((*ack)["type"] == "subscribed");
    CHECK((*ack)["productKey"] == pk);
  }

  Stack stack;
  std::int64_t dev01, dev02;
  std::unique_ptr<GatewayProcess> gateway;
  std::unique_ptr<ApiProcess> api;
};

}  // namespace

TEST_CASE("Stream: status, property, rejection and event messages follow a device", "[integration][stream]") {
  World w;
  auto ws = w.Client();
  World::Subscribe(*ws, kPk);

  auto device = w.stack.Connect("dev01");
  REQUIRE(device);
  auto online = ws->WaitFor(OfType("status", "dev01"));
  REQUIRE(online);
  CHECK((*online)["productKey"] == kPk);
  CHECK((*online)["data"]["status"] == "online");
  CHECK((*online)["time"].is_number_integer());

  const std::int64_t t = NowMs() - 5000;
  auto reply = iot::gateway::itest::Request(
      *device, Topic("dev01", "thing/event/property/post"),
      json::parse(PostJson("p1", {{"RunCount", {{"value", 42}, {"time", t}}}, {"Label", 7}})));
  REQUIRE(reply);
  REQUIRE((*reply)["code"] == 200);
  auto property = ws->WaitFor(OfType("property"));
  REQUIRE(property);
  CHECK((*property)["deviceName"] == "dev01");
  CHECK((*property)["time"] == t);
  CHECK((*property)["data"]["RunCount"] == 42);
  CHECK_FALSE((*property)["data"].contains("Label"));  // refused: it comes as a rejection
  auto rejection = ws->WaitFor(OfType("rejection"));
  REQUIRE(rejection);
  CHECK((*rejection)["data"]["identifier"] == "Label");
  CHECK((*rejection)["data"]["code"] == 6310);
  CHECK((*rejection)["data"]["value"] == "7");
  CHECK((*rejection)["data"]["method"] == "thing.event.property.post");

  auto event_reply = iot::gateway::itest::Request(
      *device, Topic("dev01", "thing/event/LowBattery/post"),
      json{{"id", "e1"},
           {"params", {{"value", {{"Level", 3}, {"Since", "1600000000000"}}}, {"time", t + 1}}},
           {"method", "thing.event.LowBattery.post"}});
  REQUIRE(event_reply);
  REQUIRE((*event_reply)["code"] == 200);
  auto event = ws->WaitFor(OfType("event"));
  REQUIRE(event);
  CHECK((*event)["time"] == t + 1);
  CHECK((*event)["data"]["identifier"] == "LowBattery");
  CHECK((*event)["data"]["type"] == "alert");
  CHECK((*event)["data"]["output"]["Level"] == 3);

  device->Disconnect();
  auto offline = ws->WaitFor(OfType("status", "dev01"));
  REQUIRE(offline);
  CHECK((*offline)["data"]["status"] == "offline");
}

TEST_CASE("Stream: messages of each device arrive in the order the device posted them",
          "[integration][stream]") {
  World w;
  auto ws = w.Client();
  World::Subscribe(*ws, kPk);
  auto d1 = w.stack.Connect("dev01");
  auto d2 = w.stack.Connect("dev02");
  REQUIRE(d1);
  REQUIRE(d2);
  constexpr int kPosts = 300;
  std::thread second([&] {
    for (int i = 0; i < kPosts; ++i) {
      d2->Publish(Topic("dev02", "thing/event/property/post"),
                  PostJson("b" + std::to_string(i), {{"RunCount", i}}));
    }
  });
  for (int i = 0; i < kPosts; ++i) {
    REQUIRE(d1->Publish(Topic("dev01", "thing/event/property/post"),
                        PostJson("a" + std::to_string(i), {{"RunCount", i}})));
  }
  second.join();
  std::map<std::string, std::vector<int>> seen;
  while (seen["dev01"].size() + seen["dev02"].size() < 2 * kPosts) {
    auto m = ws->WaitFor(OfType("property"), 10s);
    REQUIRE(m);
    seen[(*m)["deviceName"].get<std::string>()].push_back((*m)["data"]["RunCount"].get<int>());
  }
  for (const auto& dn : {"dev01", "dev02"}) {
    INFO(dn);
    std::vector<int> expected(kPosts);
    for (int i = 0; i < kPosts; ++i) {
      expected[static_cast<std::size_t>(i)] = i;
    }
    CHECK(seen[dn] == expected);
  }
}

TEST_CASE("Stream: subscriptions filter by product and by device - unsubscribe stops them",
          "[integration][stream]") {
  World w;
  iot::store::ProductCreate other;
  other.product_key = "otherProd01";
  other.name = "other";
  REQUIRE(iot::store::CreateProduct(w.stack.Db(), other));
  auto whole = w.Client();
  auto one = w.Client();
  auto elsewhere = w.Client();
  World::Subscribe(*whole, kPk);
  World::Subscribe(*one, kPk, "dev02");
  World::Subscribe(*elsewhere, "otherProd01");
  auto d1 = w.stack.Connect("dev01");
  auto d2 = w.stack.Connect("dev02");
  REQUIRE(d1);
  REQUIRE(d2);
  auto post = [&](iot::testing::MqttTestClient& d, const std::string& dn, int value) {
    auto r = iot::gateway::itest::Request(
        d, Topic(dn, "thing/event/property/post"),
        json::parse(PostJson(dn + std::to_string(value), {{"RunCount", value}})));
    REQUIRE(r);
    REQUIRE((*r)["code"] == 200);
  };
  post(*d1, "dev01", 1);
  post(*d2, "dev02", 2);
  auto a = whole->WaitFor(OfType("property", "dev01"));
  auto b = whole->WaitFor(OfType("property", "dev02"));
  REQUIRE(a);
  REQUIRE(b);
  auto only = one->WaitFor(OfType("property"));
  REQUIRE(only);
  CHECK((*only)["deviceName"] == "dev02");  // dev01's post (committed first) never reached it
  CHECK((*only)["data"]["RunCount"] == 2);

  one->Send(R"({"unsubscribe":{"productKey":")" + std::string(kPk) + R"(","deviceName":"dev02"}})");
  auto ack = one->WaitFor(OfType("unsubscribed"));
  REQUIRE(ack);
  CHECK((*ack)["deviceName"] == "dev02");
  post(*d2, "dev02", 3);
  auto c = whole->WaitFor(
      [](const json& m) { return m.value("type", "") == "property" && m["data"]["RunCount"] == 3; });
  REQUIRE(c);  // committed and streamed to `whole`; `one` and `elsewhere` got nothing of it
  CHECK_FALSE(one->WaitFor(OfType("property"), 300ms));
  CHECK_FALSE(elsewhere->WaitFor(OfType("property"), 10ms));
  CHECK_FALSE(elsewhere->WaitFor(OfType("status"), 10ms));
}

TEST_CASE("Stream: the token is checked at the upgrade - every role may read", "[integration][stream]") {
  World w;
  REQUIRE(iot::store::EnsureToken(w.stack.Db(), "viewer-token-stream-0123456789", "itest-viewer",
                                  iot::store::Role::kViewer));
  int status = 0;
  std::string body;
  WsClient::Options none;
  CHECK_FALSE(WsClient::Connect(w.api->Port(), none, &status, &body));
  CHECK(status == 401);
  WsClient::Options bad;
  bad.bearer = "not-a-valid-token-at-all";
  CHECK_FALSE(WsClient::Connect(w.api->Port(), bad, &status));
  CHECK(status == 401);
  WsClient::Options bad_query;
  bad_query.target = "/api/v1/stream?token=not-a-valid-token-either";
  CHECK_FALSE(WsClient::Connect(w.api->Port(), bad_query, &status));
  CHECK(status == 401);

  auto viewer = w.Client("viewer-token-stream-0123456789");
  World::Subscribe(*viewer, kPk, "dev01");

  const std::string secret = "viewer-token-stream-0123456789";
  WsClient::Options query;
  query.target = "/api/v1/stream?token=" + secret;
  auto by_query = WsClient::Connect(w.api->Port(), query, &status);
  REQUIRE(by_query);
  World::Subscribe(*by_query, kPk);
  auto d1 = w.stack.Connect("dev01");
  REQUIRE(d1);
  CHECK(viewer->WaitFor(OfType("status", "dev01")));
  CHECK(by_query->WaitFor(OfType("status", "dev01")));

  // Neither token appears in the API's log; the access line shows the query token redacted.
  const std::string log = w.api->Process().LogTail(1 << 20);
  CHECK(log.find(secret) == std::string::npos);
  CHECK(log.find("not-a-valid-token") == std::string::npos);
  CHECK(log.find("/api/v1/stream?token=REDACTED") != std::string::npos);
}

TEST_CASE("Stream: malformed client messages get an error and the connection goes on",
          "[integration][stream]") {
  World w;
  auto ws = w.Client();
  for (const char* text : {"garbage", "[1,2]", R"({"subscribe":5})", R"({"subscribe":{}})",
                           R"({"subscribe":{"productKey":"a/b"}})", R"({"hello":{}})",
                           R"({"subscribe":{"productKey":"pk01","x":1}})"}) {
    INFO(text);
    ws->Send(text);
    auto e = ws->Next();
    REQUIRE(e);
    CHECK((*e)["type"] == "error");
    CHECK((*e)["error"]["code"] == "badRequest");
  }
  ws->Send(R"({"subscribe":{"productKey":"noSuchProduct"}})");
  auto unknown = ws->Next();
  REQUIRE(unknown);
  CHECK((*unknown)["error"]["code"] == "notFound");
  CHECK((*unknown)["request"]["subscribe"]["productKey"] == "noSuchProduct");
  ws->Send(json{{"subscribe", {{"productKey", kPk}, {"deviceName", "noSuchDevice"}}}}.dump());
  auto unknown_device = ws->Next();
  REQUIRE(unknown_device);
  CHECK((*unknown_device)["error"]["code"] == "notFound");
  ws->Send(json{{"unsubscribe", {{"productKey", kPk}}}}.dump());
  auto not_subscribed = ws->Next();
  REQUIRE(not_subscribed);
  CHECK((*not_subscribed)["error"]["code"] == "notFound");
  // Still serving this connection and others.
  World::Subscribe(*ws, kPk);
  auto d1 = w.stack.Connect("dev01");
  REQUIRE(d1);
  CHECK(ws->WaitFor(OfType("status", "dev01")));
  CHECK(iot::testing::HttpRequest(w.api->Port(), "GET", "/healthz", {}).status == 200);
}

TEST_CASE("Stream: a message nested deeper than 64 closes the connection with 1009 - others go on",
          "[integration][stream]") {
  World w;
  auto other = w.Client();
  World::Subscribe(*other, kPk);
  auto ws = w.Client();
  ws->Send(R"({"subscribe":)" + std::string(2000, '[') + std::string(2000, ']') + "}");
  auto code = ws->WaitClosed(5s);
  REQUIRE(code);
  CHECK(*code == 1009);
  auto d1 = w.stack.Connect("dev01");
  REQUIRE(d1);
  CHECK(other->WaitFor(OfType("status", "dev01")));
}

TEST_CASE("Stream: a stream whose token is revoked or expires is closed with 4401 within 1 s",
          "[integration][stream][security]") {
  World w;
  // A stored viewer token (its id) and a stream subscribed with it.
  auto open_stream = [&](const std::string& name, std::optional<std::int64_t> expires_at = std::nullopt) {
    auto created = iot::store::CreateToken(
        w.stack.Db(), {.name = name, .role = iot::store::Role::kViewer, .expires_at = expires_at});
    REQUIRE(created.has_value());
    auto ws = w.Client(created->token);
    World::Subscribe(*ws, kPk);
    return std::make_pair(created->info.id, std::move(ws));
  };
  SECTION("revoked through the API") {
    auto [id, ws] = open_stream("ws-revoked");
    const auto revoked =
        iot::testing::HttpRequest(w.api->Port(), "DELETE", "/api/v1/tokens/" + std::to_string(id),
                                  {{"Authorization", "Bearer " + kAdminToken}});
    REQUIRE(revoked.status == 204);
    auto code = ws->WaitClosed(1s);
    REQUIRE(code);
    CHECK(*code == 4401);
  }
  SECTION("revoked in the database by another instance (NOTIFY)") {
    auto [id, ws] = open_stream("ws-revoked-2");
    REQUIRE(iot::store::RevokeToken(w.stack.Db(), id).has_value());
    auto code = ws->WaitClosed(1s);
    REQUIRE(code);
    CHECK(*code == 4401);
  }
  SECTION("revoked while the token LISTEN connection was away: found when it is back") {
    auto [id, ws] = open_stream("ws-missed");
    {
      // The listener's backend has exited (pg_terminate_backend waits for it) before the revocation
      // commits, and the API reconnects only after its backoff: no NOTIFY about it reaches this API.
      pqxx::connection admin(w.stack.Dsn());
      pqxx::work tx(admin);
      auto killed = tx.exec(
          "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
          "WHERE application_name = 'iot-api-tokens' AND datname = current_database()");
      REQUIRE(killed.size() == 1);
      REQUIRE(killed[0][0].as<bool>());
      tx.exec_params("UPDATE api_tokens SET revoked = true WHERE id = $1", id);
      tx.commit();
    }
    auto code = ws->WaitClosed(5s);
    REQUIRE(code);
    CHECK(*code == 4401);
    CHECK(w.api->Process().LogContains("token cache off"));
  }
  SECTION("expired") {
    const auto expires_at = NowMs() + 1500;
    auto [id, ws] = open_stream("ws-expiring", expires_at);
    const auto left = std::max<std::int64_t>(0, expires_at - NowMs());
    auto code = ws->WaitClosed(std::chrono::milliseconds(left) + 1s);  // at most 1 s after the expiry
    REQUIRE(code);
    CHECK(*code == 4401);
  }
  // Other streams go on.
  auto other = w.Client();
  World::Subscribe(*other, kPk);
  auto d1 = w.stack.Connect("dev01");
  REQUIRE(d1);
  CHECK(other->WaitFor(OfType("status", "dev01")));
}

TEST_CASE("Stream: serviceCall messages when a service-call row is created and changes",
          "[integration][stream]") {
  World w;
  auto ws = w.Client();
  World::Subscribe(*ws, kPk, "dev01");
  iot::store::ServiceCallCreate create;
  create.device_id = w.dev01;
  create.identifier = "set";
  create.params_json = R"({"PowerOn":1})";
  create.requested_by = "itest";
  create.alink_id = "77";
  auto call = iot::store::CreateServiceCall(w.stack.Db(), create);
  REQUIRE(call);
  auto queued = ws->WaitFor(OfType("serviceCall"));
  REQUIRE(queued);
  CHECK((*queued)["deviceName"] == "dev01");
  CHECK((*queued)["data"]["callId"] == call->call_id);
  CHECK((*queued)["data"]["status"] == "queued");
  CHECK((*queued)["data"]["params"]["PowerOn"] == 1);
  CHECK((*queued)["data"]["requestedBy"] == "itest");

  iot::store::ServiceCallUpdate update;
  update.status = iot::store::ServiceCallStatus::kSucceeded;
  update.code = 200;
  update.output_json = R"({"ok":true})";
  update.replied_at = NowMs();
  REQUIRE(iot::store::UpdateServiceCall(w.stack.Db(), call->call_id, update));
  auto done = ws->WaitFor(OfType("serviceCall"));
  REQUIRE(done);
  CHECK((*done)["data"]["status"] == "succeeded");
  CHECK((*done)["data"]["code"] == 200);
  CHECK((*done)["data"]["output"]["ok"] == true);
  CHECK((*done)["data"]["repliedAt"].is_number_integer());

  // Another device's call does not reach a device subscription.
  create.device_id = w.dev02;
  REQUIRE(iot::store::CreateServiceCall(w.stack.Db(), create));
  auto extra = ws->WaitFor(OfType("serviceCall"), 500ms);
  INFO((extra ? extra->dump() : std::string("none")));
  CHECK_FALSE(extra);
}

TEST_CASE("Stream: a client that never reads is closed with 1008 - others keep up", "[integration][stream]") {
  World w(iot::api::itest::Env{{"IOT_STREAM_QUEUE_MESSAGES", "64"}});
  WsClient::Options slow_options;
  slow_options.bearer = kAdminToken;
  slow_options.receive_buffer = 4096;
  slow_options.start_reading = false;
  auto slow = WsClient::Connect(w.api->Port(), slow_options);
  REQUIRE(slow);
  slow->Send(json{{"subscribe", {{"productKey", kPk}}}}.dump());
  auto fast = w.Client();
  World::Subscribe(*fast, kPk);
  REQUIRE(iot::testing::PollUntil([&] { return Metric(w.api->Port(), "iot_stream_subscriptions") == 2; }, 5s,
                                  20ms));

  // A flood written as the gateway would (TelemetryWriter, 4 KB values), far beyond socket buffers.
  // The reading client takes each batch before the next is written, so only the other one falls behind.
  iot::store::TelemetryWriter writer(w.stack.Db());
  const std::string value = "\"" + std::string(4000, 'v') + "\"";
  int written = 0;
  for (int batch = 0; batch < 1000 && Metric(w.api->Port(), "iot_stream_slow_disconnects") < 1; ++batch) {
    std::vector<iot::store::TelemetryMessage> messages(10);
    for (auto& m : messages) {
      m.device_id = w.dev01;
      m.received_at = NowMs();
      m.properties.push_back({"Label", value, NowMs() + written++});
    }
    REQUIRE(writer.Write(messages).has_value());
    for (std::size_t i = 0; i < messages.size(); ++i) {
      REQUIRE(fast->WaitFor(OfType("property"), 10s));
    }
  }
  REQUIRE(iot::testing::PollUntil([&] { return Metric(w.api->Port(), "iot_stream_slow_disconnects") >= 1; },
                                  10s, 50ms));
  slow->StartReading();
  auto code = slow->WaitClosed(20s);
  REQUIRE(code);
  CHECK(*code == 1008);
  CHECK(slow->Received() < static_cast<std::size_t>(written));
  // The reading client is still connected and served.
  auto d1 = w.stack.Connect("dev01");
  REQUIRE(d1);
  CHECK(fast->WaitFor(OfType("status", "dev01")));
  CHECK(Metric(w.api->Port(), "iot_stream_clients") == 1);
  CHECK(Metric(w.api->Port(), "iot_stream_slow_disconnects") == 1);
}

TEST_CASE("Stream: the telemetry writer notifies only while a listener holds the presence lock",
          "[integration][stream]") {
  Stack stack;
  const auto dev = stack.AddDevice("dev01");
  pqxx::connection listen(stack.Dsn());
  std::vector<std::string> payloads;
  struct Receiver : pqxx::notification_receiver {
    Receiver(pqxx::connection& c, std::vector<std::string>& out)
        : pqxx::notification_receiver(c, iot::store::kChannelStream), out_(out) {}
    void operator()(const std::string& payload, int) override { out_.push_back(payload); }
    std::vector<std::string>& out_;
  } receiver(listen, payloads);
  pqxx::nontransaction(listen).exec("SELECT 1");  // LISTEN is active
  auto drain = [&] {
    listen.await_notification(0, 300000);
    listen.get_notifs();
  };

  iot::store::TelemetryWriter writer(stack.Db());
  std::vector<iot::store::TelemetryMessage> batch(1);
  batch[0].device_id = dev;
  batch[0].received_at = NowMs();
  batch[0].properties.push_back({"RunCount", "1", NowMs()});
  REQUIRE(writer.Write(batch).has_value());
  drain();
  CHECK(payloads.empty());  // nobody holds the lock: nothing built, nothing sent

  pqxx::connection holder(stack.Dsn());
  pqxx::nontransaction(holder).exec_params("SELECT pg_advisory_lock_shared($1)",
                                           iot::store::kStreamPresenceLockKey);
  std::this_thread::sleep_for(iot::store::kStreamPresenceCheck + 50ms);  // the writer's next look
  batch[0].properties[0].value_json = "2";
  REQUIRE(writer.Write(batch).has_value());
  drain();
  REQUIRE(payloads.size() == 1);
  auto records = iot::store::ParseStreamPayload(payloads[0]);
  REQUIRE(records.size() == 1);
  CHECK(records[0].device_id == dev);
  CHECK(json::parse(records[0].data)["RunCount"] == 2);
}

TEST_CASE("Stream: alarm messages when an alarm is raised - acknowledged - cleared but not on repeats",
          "[integration][stream]") {
  World w;
  iot::store::AlarmRule rule;
  rule.product_key = kPk;
  rule.name = "busy";
  rule.severity = "minor";
  rule.when = "RunCount > 100";
  rule.clear_when = "RunCount < 10";
  auto created = iot::store::CreateAlarmRule(w.stack.Db(), rule);
  REQUIRE(created);
  auto ws = w.Client();
  World::Subscribe(*ws, kPk, "dev01");
  auto device = w.stack.Connect("dev01");
  REQUIRE(device);
  // The gateway loads a new rule within about a second: post until it raised.
  int n = 0;
  auto post = [&](int value) {
    auto reply =
        iot::gateway::itest::Request(*device, Topic("dev01", "thing/event/property/post"),
                                     json::parse(PostJson("a" + std::to_string(++n), {{"RunCount", value}})));
    REQUIRE(reply);
    REQUIRE((*reply)["code"] == 200);
  };
  std::optional<json> raised;
  for (int i = 0; i < 40 && !raised; ++i) {
    post(150);
    raised = ws->WaitFor(OfType("alarm"), 250ms);
  }
  REQUIRE(raised);
  CHECK((*raised)["deviceName"] == "dev01");
  CHECK((*raised)["data"]["change"] == "raised");
  CHECK((*raised)["data"]["state"] == "active");
  CHECK((*raised)["data"]["rule"] == "busy");
  CHECK((*raised)["data"]["severity"] == "minor");
  CHECK((*raised)["data"]["lastValue"]["RunCount"] == 150);
  const std::int64_t id = (*raised)["data"]["id"].get<std::int64_t>();
  post(160);  // a repeat: counted, not streamed
  REQUIRE(iot::store::AckAlarm(w.stack.Db(), id, "itest"));
  auto acked = ws->WaitFor(OfType("alarm"));
  REQUIRE(acked);
  CHECK((*acked)["data"]["change"] == "acknowledged");
  CHECK((*acked)["data"]["ackedBy"] == "itest");
  CHECK((*acked)["data"]["count"].get<std::int64_t>() >= 2);
  post(5);
  auto cleared = ws->WaitFor(OfType("alarm"));
  REQUIRE(cleared);
  CHECK((*cleared)["data"]["change"] == "cleared");
  CHECK((*cleared)["data"]["clearedBy"] == "");
}

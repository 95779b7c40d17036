// The device SDK (libs/device) end to end: real Mosquitto with the plugin, real iot-gateway,
// PostgreSQL. Downlinks are published by a client logged in as the API's service account, as
// iot-api does.

#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/gateway_stack.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/device/device.hpp"
#include "iot/store/device_data.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/env.hpp"

using iot::device::Device;
using iot::device::DeviceOptions;
using iot::device::DownlinkRequest;
using iot::device::Outcome;
using iot::device::Responder;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::kSecret;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

DeviceOptions Options(const std::string& uri, const std::string& dn) {
  DeviceOptions o;
  o.broker_uri = uri;
  o.product_key = kPk;
  o.device_name = dn;
  o.device_secret = kSecret;
  o.reconnect_min = 100ms;
  o.reconnect_max = 1s;
  return o;
}

// A stack with one gateway and device "dev01" registered.
struct World {
  World() : device_id(stack.AddDevice("dev01")) {
    gateway = std::make_unique<GatewayProcess>(stack, "gw-device-itest");
    REQUIRE(gateway->WaitConnected());
  }
  ~World() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n"
                << gateway->LogTail() << "\n----- broker log\n"
                << stack.Broker().LogTail() << "\n";
    }
  }
  std::unique_ptr<Device> Connect(DeviceOptions o) {
    auto d = std::make_unique<Device>(std::move(o));
    // A device added after the broker started reaches the plugin through NOTIFY within a second.
    REQUIRE(d->Connect(5s));
    return d;
  }
  std::unique_ptr<Device> Connect() { return Connect(Options(stack.Broker().Uri(), "dev01")); }
  std::int64_t Rows(const std::string& sql) { return stack.Count(sql, device_id); }

  Stack stack;
  std::int64_t device_id;
  std::unique_ptr<GatewayProcess> gateway;
};

// A client of the API's service account: publishes downlinks, reads RRPC responses.
std::unique_ptr<iot::testing::MqttTestClient> ApiClient(Stack& stack) {
  auto c = std::make_unique<iot::testing::MqttTestClient>();
  REQUIRE(c->Connect(stack.Broker().Uri(), "iot-api-itest", iot::testing::kApiUser,
                     iot::testing::kApiSecret) == 0);
  REQUIRE(c->Subscribe("/sys/+/+/rrpc/response/+", 1) == 1);
  return c;
}

// A client of the gateway's account that watches the device's replies (the API account may not).
std::unique_ptr<iot::testing::MqttTestClient> Monitor(Stack& stack, const std::string& dn) {
  auto c = std::make_unique<iot::testing::MqttTestClient>();
  REQUIRE(c->Connect(stack.Broker().Uri(), "gw-monitor-itest", iot::testing::kGatewayUser,
                     iot::testing::kGatewaySecret) == 0);
  REQUIRE(c->Subscribe(std::string("/sys/") + kPk + "/" + dn + "/thing/service/#", 1) == 1);
  return c;
}

std::string Sys(const std::string& dn, const std::string& rest) {
  return std::string("/sys/") + kPk + "/" + dn + "/" + rest;
}

iot::store::ServiceCall WaitCall(World& w, const std::string& call_id, iot::store::ServiceCallStatus until) {
  iot::store::ServiceCall call;
  iot::testing::PollUntil(
      [&] {
        auto c = iot::store::GetServiceCall(w.stack.Db(), w.device_id, call_id);
        if (!c) {
          return false;
        }
        call = *c;
        return c->status == until;
      },
      10s, 20ms);
  return call;
}

std::string CreateCall(World& w, const std::string& identifier, const std::string& alink_id,
                       const json& params) {
  iot::store::ServiceCallCreate create;
  create.device_id = w.device_id;
  create.identifier = identifier;
  create.params_json = params.dump();
  create.status = iot::store::ServiceCallStatus::kSent;
  create.alink_id = alink_id;
  create.requested_by = "itest";
  auto call = iot::store::CreateServiceCall(w.stack.Db(), create);
  REQUIRE(call);
  return call->call_id;
}

}  // namespace

TEST_CASE("Device SDK: signed TCP connect - property post answered with the refused items named",
          "[integration][device][mqtt][pg]") {
  World w;
  auto dev = w.Connect();
  CHECK(dev->IsReady());

  auto r = dev->PostProperties({{"RunCount", 42}, {"Label", 0}, {"Humidity", 55.5}});
  REQUIRE(r.outcome == Outcome::kReplied);
  CHECK(r.code == 200);
  CHECK(r.attempts == 1);
  REQUIRE(r.refusals.size() == 1);
  CHECK(r.refusals[0].identifier == "Label");
  CHECK(r.refusals[0].code == 6310);
  CHECK(w.Rows("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'RunCount'") ==
        1);
  CHECK(w.Rows("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'Label'") == 0);

  SECTION("events: accepted, and refused with the event's own code") {
    auto ok = dev->PostEvent("LowBattery", {{"Level", 3}, {"Since", "1600000000000"}});
    CHECK(ok.ok());
    auto bad = dev->PostEvent("LowBattery", {{"Level", "low"}});
    REQUIRE(bad.outcome == Outcome::kReplied);
    CHECK(bad.code == 6306);
    REQUIRE(bad.refusals.size() == 1);
    CHECK(bad.refusals[0].identifier == "LowBattery");
    CHECK(w.Rows("SELECT count(*) FROM events WHERE device_id = $1 AND identifier = 'LowBattery'") == 1);
  }
  SECTION("async posts complete on the callback, each with its own id") {
    std::mutex m;
    std::vector<iot::device::Reply> replies;
    for (int i = 0; i < 20; ++i) {
      REQUIRE(dev->PostPropertiesAsync({{"RunCount", 100 + i}}, [&](const iot::device::Reply& reply) {
        std::lock_guard lock(m);
        replies.push_back(reply);
      }) == Outcome::kReplied);
    }
    REQUIRE(iot::testing::PollUntil(
        [&] {
          std::lock_guard lock(m);
          return replies.size() == 20;
        },
        10s));
    std::set<std::string> ids;
    for (const auto& reply : replies) {
      CHECK(reply.ok());
      ids.insert(reply.id);
    }
    CHECK(ids.size() == 20);
    CHECK(w.Rows("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'RunCount'") ==
          21);
  }
  SECTION("params that are not an object are refused before sending") {
    CHECK(dev->PostProperties(json::array()).outcome == Outcome::kInvalid);
  }
}

TEST_CASE("Device SDK: a wrong secret is refused and reported", "[integration][device][mqtt][pg]") {
  World w;
  auto o = Options(w.stack.Broker().Uri(), "dev01");
  o.device_secret = "not-the-secret";
  Device dev(o);
  CHECK_FALSE(dev.Connect(2s));
  CHECK(dev.LastError().find("refused") != std::string::npos);
}

TEST_CASE("Device SDK: signed TLS connect trusting the broker's CA", "[integration][device][mqtt][pg]") {
  Stack stack;
  stack.AddDevice("dev01");
  iot::testing::MosquittoOptions tls_options;
  tls_options.pg_dsn = stack.Dsn();
  tls_options.tls = true;
  iot::testing::MosquittoProcess tls_broker(tls_options);
  GatewayProcess gateway(stack, "gw-device-tls", {{"IOT_MQTT_PORT", std::to_string(tls_broker.Port())}});
  REQUIRE(gateway.WaitConnected());

  auto o = Options(tls_broker.TlsUri(), "dev01");
  o.ca_file = tls_broker.CaFile();
  Device dev(o);
  REQUIRE(dev.Connect(5s));
  auto r = dev.PostProperties({{"Humidity", 40.0}});
  CHECK(r.ok());

  auto untrusted = Options(tls_broker.TlsUri(), "dev01");
  untrusted.ca_file = "/dev/null";
  Device other(untrusted);
  CHECK_FALSE(other.Connect(2s));
}

TEST_CASE("Device SDK: an unanswered post is resent with the same id and stored once",
          "[integration][device][mqtt][pg]") {
  World w;
  auto o = Options(w.stack.Broker().Uri(), "dev01");
  o.reply_timeout = 300ms;
  o.max_attempts = 50;
  auto dev = w.Connect(o);

  // A frozen gateway answers nothing; the broker keeps its messages until it runs again.
  REQUIRE(::kill(w.gateway->Process().Pid(), SIGSTOP) == 0);
  std::atomic<bool> done{false};
  iot::device::Reply reply;
  REQUIRE(dev->PostPropertiesAsync({{"RunCount", 777}}, [&](const iot::device::Reply& r) {
    reply = r;
    done = true;
  }) == Outcome::kReplied);
  const bool resent = iot::testing::PollUntil([&] { return dev->Stats().resends >= 2; }, 10s);
  REQUIRE(::kill(w.gateway->Process().Pid(), SIGCONT) == 0);
  REQUIRE(resent);
  REQUIRE(iot::testing::PollUntil([&] { return done.load(); }, 15s));
  CHECK(reply.ok());
  CHECK(reply.attempts >= 3);
  // Every copy reached the gateway; it stored one.
  CHECK(w.Rows("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'RunCount'") ==
        1);
  CHECK(w.Rows("SELECT count(*) FROM rejections WHERE device_id = $1") == 0);
}

TEST_CASE("Device SDK: reconnects after the broker restarts and sends what waited",
          "[integration][device][mqtt][pg]") {
  World w;
  auto dev = w.Connect();
  std::atomic<int> downs{0};
  std::atomic<int> ups{0};
  dev->OnConnectionChange([&](bool ready, const std::string&) { ++(ready ? ups : downs); });

  w.stack.Broker().Stop();
  REQUIRE(iot::testing::PollUntil([&] { return !dev->IsReady(); }, 5s));
  std::atomic<bool> done{false};
  iot::device::Reply reply;
  REQUIRE(dev->PostPropertiesAsync({{"RunCount", 5}}, [&](const iot::device::Reply& r) {
    reply = r;
    done = true;
  }) == Outcome::kReplied);
  w.stack.Broker().Start();
  CHECK(iot::testing::PollUntil([&] { return dev->IsReady(); }, 10s));
  REQUIRE(iot::testing::PollUntil([&] { return done.load(); }, 30s));
  CHECK(reply.ok());
  CHECK(dev->Stats().connects >= 2);
  CHECK(dev->Stats().connection_losses >= 1);
  CHECK(downs >= 1);
  CHECK(ups >= 1);
  CHECK(dev->PostProperties({{"RunCount", 6}}).ok());
  CHECK(w.Rows("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'RunCount'") ==
        2);
}

TEST_CASE("Device SDK: property set and async service answered - the gateway completes the calls",
          "[integration][device][mqtt][pg]") {
  World w;
  auto dev = w.Connect();
  std::atomic<int> target{0};
  dev->OnPropertySet([&](const DownlinkRequest& r, Responder reply) {
    CHECK(r.kind == iot::device::DownlinkKind::kPropertySet);
    target = r.params.value("FanLevel", -1);
    reply.Ok();
  });
  dev->OnService("Reboot", [](const DownlinkRequest& r, Responder reply) {
    CHECK_FALSE(r.sync);
    CHECK(r.params.value("DelaySec", -1) == 5);
    reply.Ok();
  });
  auto api = ApiClient(w.stack);
  auto monitor = Monitor(w.stack, "dev01");

  const std::string set_call = CreateCall(w, "set", "9001", {{"FanLevel", 2}});
  REQUIRE(api->Publish(Sys("dev01", "thing/service/property/set"),
                       iot::alink::BuildRequest("9001", "thing.service.property.set", {{"FanLevel", 2}})));
  auto set_reply = monitor->WaitMessage(Sys("dev01", "thing/service/property/set_reply"), 5s);
  REQUIRE(set_reply);
  auto set_json = json::parse(set_reply->payload);
  CHECK(set_json["id"] == "9001");
  CHECK(set_json["code"] == 200);
  CHECK(target == 2);
  CHECK(WaitCall(w, set_call, iot::store::ServiceCallStatus::kSucceeded).status ==
        iot::store::ServiceCallStatus::kSucceeded);

  const std::string reboot_call = CreateCall(w, "Reboot", "9002", {{"DelaySec", 5}});
  REQUIRE(api->Publish(Sys("dev01", "thing/service/Reboot"),
                       iot::alink::BuildRequest("9002", "thing.service.Reboot", {{"DelaySec", 5}})));
  auto reboot_reply = monitor->WaitMessage(Sys("dev01", "thing/service/Reboot_reply"), 5s);
  REQUIRE(reboot_reply);
  CHECK(json::parse(reboot_reply->payload)["id"] == "9002");
  auto call = WaitCall(w, reboot_call, iot::store::ServiceCallStatus::kSucceeded);
  CHECK(call.status == iot::store::ServiceCallStatus::kSucceeded);
  CHECK(call.code == 200);

  // A service without a handler is answered 460 rather than left waiting.
  REQUIRE(api->Publish(Sys("dev01", "thing/service/Unknown"),
                       iot::alink::BuildRequest("9003", "thing.service.Unknown", json::object())));
  auto unknown = monitor->WaitMessage(Sys("dev01", "thing/service/Unknown_reply"), 5s);
  REQUIRE(unknown);
  CHECK(json::parse(unknown->payload)["code"] == 460);
}

TEST_CASE("Device SDK: a sync service over RRPC is answered on the RRPC response topic",
          "[integration][device][mqtt][pg]") {
  World w;
  auto dev = w.Connect();
  // The handler posts synchronously before answering: it runs on the SDK's worker, not on Paho's
  // callback thread, so the post's reply can still arrive.
  dev->OnService("SelfTest", [&](const DownlinkRequest& r, Responder reply) {
    CHECK(r.sync);
    CHECK(r.rrpc_message_id == "m-1");
    auto post = dev->PostProperties({{"RunCount", 9}});
    reply.Ok({{"Passed", post.ok() ? 1 : 0}, {"Report", "ok"}});
  });
  auto api = ApiClient(w.stack);
  REQUIRE(api->Publish(Sys("dev01", "rrpc/request/m-1"),
                       iot::alink::BuildRequest("9100", "thing.service.SelfTest", {{"Depth", 1}})));
  auto response = api->WaitMessage(Sys("dev01", "rrpc/response/m-1"), 10s);
  REQUIRE(response);
  auto j = json::parse(response->payload);
  CHECK(j["id"] == "9100");
  CHECK(j["code"] == 200);
  CHECK(j["data"]["Passed"] == 1);
  CHECK(w.Rows("SELECT count(*) FROM property_history WHERE device_id = $1 AND identifier = 'RunCount'") ==
        1);
}

TEST_CASE("Device SDK: desired properties get and delete - TSL template - NTP",
          "[integration][device][mqtt][pg]") {
  World w;
  auto dev = w.Connect();

  SECTION("desired get and delete") {
    std::vector<iot::store::DesiredChange> changes(1);
    changes[0].identifier = "TargetTemp";
    changes[0].value_json = "22.5";
    REQUIRE(iot::store::SetDesiredProperties(w.stack.Db(), w.device_id, changes));
    auto got = dev->GetDesired({"TargetTemp", "PowerOn"});
    REQUIRE(got.ok());
    REQUIRE(got.data.contains("TargetTemp"));
    CHECK(got.data["TargetTemp"]["value"] == 22.5);
    CHECK(got.data["TargetTemp"]["version"] == 1);
    CHECK_FALSE(got.data.contains("PowerOn"));

    auto deleted = dev->DeleteDesired({{"TargetTemp", {{"version", 1}}}});
    CHECK(deleted.ok());
    auto stored = iot::store::GetDesiredProperties(w.stack.Db(), w.device_id);
    REQUIRE(stored);
    for (const auto& d : *stored) {
      if (d.identifier == "TargetTemp") {
        CHECK_FALSE(d.value_json.has_value());
      }
    }
    CHECK_FALSE(dev->GetDesired({"TargetTemp"}).data.contains("TargetTemp"));
  }
  SECTION("TSL template") {
    auto tsl = dev->GetThingModel();
    REQUIRE(tsl.ok());
    bool found = false;
    for (const auto& p : tsl.data["properties"]) {
      found = found || p["identifier"] == "Humidity";
    }
    CHECK(found);
  }
  SECTION("NTP") {
    auto sync = dev->SyncTime();
    REQUIRE(sync.ok());
    // Same machine, same clock: the platform's time is ours, give or take the round trip.
    CHECK(std::abs(sync.offset_ms) < 5000);
    CHECK(sync.server_time_ms > 1700000000000);
  }
}

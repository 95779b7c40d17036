// Sub-device sessions inside a real Mosquitto with the plugin: combine.login / logout answered by the
// plugin, the gateway's ACL for its logged-in sub-devices, downlinks routed to the gateway's
// connection, and sub-devices going offline with their gateway or their topology. Topology comes
// from PostgreSQL by notification.

#include <span>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/store/db.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/store/topology.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/pg_database.hpp"

namespace {

using iot::testing::DeviceConnect;
using iot::testing::MqttTestClient;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kGwPk = "gwProduct01";
constexpr const char* kSubPk = "subProduct1";
constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

struct Stack {
  iot::testing::PgDatabase database;
  iot::store::Db db{iot::store::DbSettings{database.Dsn()}};
  std::unique_ptr<iot::testing::MosquittoProcess> broker;

  Stack() {
    iot::store::Migrator migrator(database.Dsn());
    REQUIRE(migrator.Migrate());
    iot::store::ProductCreate gateway;
    gateway.product_key = kGwPk;
    gateway.name = "gateways";
    gateway.node_type = iot::store::NodeType::kGateway;
    REQUIRE(iot::store::CreateProduct(db, gateway));
    iot::store::ProductCreate sub;
    sub.product_key = kSubPk;
    sub.name = "sub-devices";
    REQUIRE(iot::store::CreateProduct(db, sub));
    for (const char* gw : {"gw01", "gw02"}) {
      AddDevice(kGwPk, gw);
    }
    for (const char* dn : {"sub0001", "sub0002", "sub0003"}) {
      AddDevice(kSubPk, dn);
    }
    broker = std::make_unique<iot::testing::MosquittoProcess>(
        iot::testing::MosquittoOptions{database.Dsn(), false, 1});
  }

  std::int64_t AddDevice(const std::string& pk, const std::string& dn) {
    iot::store::DeviceCreate create;
    create.device_name = dn;
    create.secret = kSecret;
    auto device = iot::store::CreateDevice(db, pk, create);
    REQUIRE(device);
    return device->id;
  }

  std::int64_t IdOf(const std::string& pk, const std::string& dn) {
    auto device = iot::store::GetDevice(db, pk, dn);
    REQUIRE(device);
    return device->id;
  }

  void Bind(const std::string& gw, const std::string& sub) {
    const iot::store::DeviceRef ref{kSubPk, sub};
    auto added = iot::store::AddTopology(db, IdOf(kGwPk, gw), std::span(&ref, 1));
    REQUIRE(added);
    REQUIRE(added->refusal == iot::store::TopologyRefusal::kNone);
  }

  DeviceConnect Gateway(const std::string& dn) const {
    DeviceConnect c;
    c.uri = broker->Uri();
    c.product_key = kGwPk;
    c.device_name = dn;
    c.device_secret = kSecret;
    return c;
  }

  // The platform's gateway account: lifecycle messages and what devices post.
  std::unique_ptr<MqttTestClient> Watcher() const {
    auto watcher = std::make_unique<MqttTestClient>();
    REQUIRE(watcher->Connect(broker->Uri(), "watcher", iot::testing::kGatewayUser,
                             iot::testing::kGatewaySecret) == 0);
    REQUIRE(watcher->Subscribe("/as/mqtt/status/+/+", 1) == 1);
    REQUIRE(watcher->Subscribe("/sys/+/+/thing/event/property/post", 1) == 1);
    return watcher;
  }
};

json LoginParams(const std::string& dn, const std::string& secret = kSecret) {
  const std::string client_id = std::string(kSubPk) + "." + dn;
  const std::string ts = "1700000000000";
  return {{"productKey", kSubPk},
          {"deviceName", dn},
          {"clientId", client_id},
          {"timestamp", ts},
          {"signMethod", "hmacSha1"},
          {"sign", iot::alink::Sign(iot::alink::SignMethod::kHmacSha1, secret,
                                    iot::alink::SignContent(client_id, dn, kSubPk, ts))},
          {"cleanSession", "true"}};
}

std::string Session(const std::string& gw, const std::string& what) {
  return std::string("/ext/session/") + kGwPk + "/" + gw + "/combine/" + what;
}

// Sends a session request from the gateway and returns the plugin's reply.
json SessionRequest(MqttTestClient& gateway, const std::string& gw, const std::string& what,
                    const std::string& id, const std::string& method, const json& params) {
  const json request = {{"id", id}, {"version", "1.0"}, {"params", params}, {"method", method}};
  REQUIRE(gateway.Publish(Session(gw, what), request.dump(), 0));
  auto reply = gateway.WaitMessageWhere(
      [&](const iot::testing::ReceivedMessage& m) {
        return m.topic == Session(gw, what + "_reply") &&
               json::parse(m.payload, nullptr, false).value("id", "") == id;
      },
      5s);
  REQUIRE(reply);
  return json::parse(reply->payload);
}

bool SeesStatus(MqttTestClient& watcher, const std::string& dn, const std::string& status,
                std::chrono::milliseconds timeout = 2s) {
  const std::string topic = std::string("/as/mqtt/status/") + kSubPk + "/" + dn;
  return watcher
      .WaitMessageWhere(
          [&](const iot::testing::ReceivedMessage& m) {
            return m.topic == topic && json::parse(m.payload, nullptr, false).value("status", "") == status;
          },
          timeout)
      .has_value();
}

std::string SubTopic(const std::string& dn, const std::string& rest) {
  return std::string("/sys/") + kSubPk + "/" + dn + "/" + rest;
}

}  // namespace

TEST_CASE("Sub-devices: login through the gateway, proxy uplink and downlink, logout, gateway gone",
          "[integration][broker][subdevices]") {
  Stack stack;
  auto watcher = stack.Watcher();
  MqttTestClient api;
  REQUIRE(api.Connect(stack.broker->Uri(), "api", iot::testing::kApiUser, iot::testing::kApiSecret) == 0);
  MqttTestClient gateway;
  REQUIRE(gateway.ConnectDevice(stack.Gateway("gw01")) == 0);
  // Alibaba's Link SDK subscribes for its sub-devices with wildcards.
  REQUIRE(gateway.Subscribe("/sys/+/+/thing/service/property/set", 1) == 1);
  REQUIRE(gateway.Subscribe("/sys/+/+/rrpc/request/+", 1) == 1);
  REQUIRE(gateway.Subscribe("/sys/+/+/thing/event/+/post_reply", 1) == 1);

  // Not in the topology yet: 6401. The topology then arrives by notification.
  CHECK(SessionRequest(gateway, "gw01", "login", "1", "combine.login", LoginParams("sub0001"))["code"] ==
        6401);
  stack.Bind("gw01", "sub0001");
  int attempt = 0;
  json login;
  REQUIRE(iot::testing::PollUntil(
      [&] {
        login = SessionRequest(gateway, "gw01", "login", "a" + std::to_string(++attempt), "combine.login",
                               LoginParams("sub0001"));
        return login["code"] == 200;
      },
      3s, 100ms));
  CHECK(login["data"]["deviceName"] == "sub0001");
  CHECK(login["method"] == "combine.login");
  CHECK(SeesStatus(*watcher, "sub0001", "online"));

  // Proxy uplink on the sub-device's own topic reaches the platform.
  const std::string post = SubTopic("sub0001", "thing/event/property/post");
  REQUIRE(gateway.Publish(
      post, R"({"id":"7","version":"1.0","params":{"t":1},"method":"thing.event.property.post"})"));
  CHECK(watcher->WaitMessage(post, 3s));
  // Downlinks to the logged-in sub-device arrive on the gateway's connection; others do not.
  REQUIRE(api.Publish(SubTopic("sub0001", "thing/service/property/set"), R"({"id":"8","params":{"t":2}})"));
  CHECK(gateway.WaitMessage(SubTopic("sub0001", "thing/service/property/set"), 3s));
  REQUIRE(api.Publish(SubTopic("sub0001", "rrpc/request/42"), R"({"id":"9","method":"thing.service.x"})"));
  CHECK(gateway.WaitMessage(SubTopic("sub0001", "rrpc/request/42"), 3s));
  REQUIRE(api.Publish(SubTopic("sub0002", "thing/service/property/set"), R"({"id":"10","params":{}})"));
  CHECK_FALSE(gateway.WaitMessage(SubTopic("sub0002", "thing/service/property/set"), 500ms));

  // Bad signature and unknown device.
  stack.Bind("gw01", "sub0002");
  CHECK(iot::testing::PollUntil(
      [&] {
        return SessionRequest(gateway, "gw01", "login", "b" + std::to_string(++attempt), "combine.login",
                              LoginParams("sub0002", "not-the-secret"))["code"] == 6287;
      },
      3s, 100ms));
  CHECK(SessionRequest(gateway, "gw01", "login", "2", "combine.login", LoginParams("nosuch99"))["code"] ==
        6100);
  CHECK(SessionRequest(gateway, "gw01", "login", "3", "combine.login", json::object())["code"] == 460);

  // Batch login (once the new topology reached the plugin: the sign is checked before the topology)
  // and batch logout.
  json batch;
  CHECK(iot::testing::PollUntil(
      [&] {
        batch =
            SessionRequest(gateway, "gw01", "batch_login", "c" + std::to_string(++attempt),
                           "combine.batch.login", {{"deviceList", json::array({LoginParams("sub0002")})}});
        return batch["code"] == 200;
      },
      3s, 100ms));
  REQUIRE(batch["data"].is_array());
  CHECK(batch["data"][0]["code"] == 200);
  CHECK(SeesStatus(*watcher, "sub0002", "online"));
  const json out = SessionRequest(gateway, "gw01", "batch_logout", "5", "combine.batch.logout",
                                  json::array({{{"productKey", kSubPk}, {"deviceName", "sub0002"}}}));
  CHECK(out["code"] == 200);
  CHECK(SeesStatus(*watcher, "sub0002", "offline"));

  // Logout: the sub-device's topics are closed again.
  const json logout = SessionRequest(gateway, "gw01", "logout", "6", "combine.logout",
                                     {{"productKey", kSubPk}, {"deviceName", "sub0001"}});
  CHECK(logout["code"] == 200);
  CHECK(SeesStatus(*watcher, "sub0001", "offline"));
  CHECK(SessionRequest(gateway, "gw01", "logout", "7", "combine.logout",
                       {{"productKey", kSubPk}, {"deviceName", "sub0001"}})["code"] == 520);
  // A refused publish (QoS 1, MQTT 3.1.1): dropped, and the broker closes the connection.
  gateway.Publish(post,
                  R"({"id":"11","version":"1.0","params":{"t":3},"method":"thing.event.property.post"})");
  CHECK_FALSE(watcher->WaitMessage(post, 500ms));

  // The gateway's connection goes away: its sub-devices go offline with it.
  if (!gateway.IsConnected()) {
    REQUIRE(gateway.ConnectDevice(stack.Gateway("gw01")) == 0);
  }
  REQUIRE(SessionRequest(gateway, "gw01", "login", "8", "combine.login", LoginParams("sub0001"))["code"] ==
          200);
  CHECK(SeesStatus(*watcher, "sub0001", "online"));
  gateway.Disconnect();
  CHECK(SeesStatus(*watcher, "sub0001", "offline", 2s));
}

TEST_CASE("Sub-devices: a gateway cannot act for a sub-device not its own or not logged in through it",
          "[integration][broker][subdevices][security]") {
  Stack stack;
  stack.Bind("gw01", "sub0001");
  auto watcher = stack.Watcher();
  MqttTestClient owner, other;
  REQUIRE(owner.ConnectDevice(stack.Gateway("gw01")) == 0);
  REQUIRE(other.ConnectDevice(stack.Gateway("gw02")) == 0);
  REQUIRE(iot::testing::PollUntil(
      [&, n = 0]() mutable {
        return SessionRequest(owner, "gw01", "login", "o" + std::to_string(++n), "combine.login",
                              LoginParams("sub0001"))["code"] == 200;
      },
      3s, 100ms));
  CHECK(SeesStatus(*watcher, "sub0001", "online"));

  // gw02: not in its topology (6401), no subscription to the sub-device's topics, no publishing.
  CHECK(SessionRequest(other, "gw02", "login", "1", "combine.login", LoginParams("sub0001"))["code"] == 6401);
  CHECK(other.Subscribe(SubTopic("sub0001", "thing/service/property/set"), 1) >= 128);
  const std::string post = SubTopic("sub0001", "thing/event/property/post");
  if (other.IsConnected()) {
    other.Publish(post, R"({"id":"1","version":"1.0","params":{},"method":"thing.event.property.post"})");
  }
  CHECK_FALSE(watcher->WaitMessage(post, 500ms));

  // Disabling the sub-device ends its session, and its gateway is told (thing.disable).
  iot::store::DevicePatch disable;
  disable.enabled = false;
  REQUIRE(iot::store::PatchDevice(stack.db, kSubPk, "sub0001", disable));
  auto told = owner.WaitMessage(SubTopic("sub0001", "thing/disable"), 3s);
  REQUIRE(told);
  CHECK(json::parse(told->payload)["method"] == "thing.disable");
  CHECK(SeesStatus(*watcher, "sub0001", "offline", 2s));
  CHECK(SessionRequest(owner, "gw01", "login", "d1", "combine.login", LoginParams("sub0001"))["code"] == 522);
  iot::store::DevicePatch enable;
  enable.enabled = true;
  REQUIRE(iot::store::PatchDevice(stack.db, kSubPk, "sub0001", enable));
  // Enabled again: the gateway is told as well (thing.enable), and may log it in again.
  auto enabled = owner.WaitMessage(SubTopic("sub0001", "thing/enable"), 3s);
  REQUIRE(enabled);
  CHECK(json::parse(enabled->payload)["method"] == "thing.enable");
  REQUIRE(iot::testing::PollUntil(
      [&, n = 0]() mutable {
        return SessionRequest(owner, "gw01", "login", "e" + std::to_string(++n), "combine.login",
                              LoginParams("sub0001"))["code"] == 200;
      },
      3s, 100ms));
  CHECK(SeesStatus(*watcher, "sub0001", "online"));

  // Removing the sub-device from the topology ends its session.
  const iot::store::DeviceRef ref{kSubPk, "sub0001"};
  auto removed = iot::store::RemoveTopology(stack.db, stack.IdOf(kGwPk, "gw01"), std::span(&ref, 1));
  REQUIRE(removed);
  CHECK(removed->refusal == iot::store::TopologyRefusal::kNone);
  CHECK(SeesStatus(*watcher, "sub0001", "offline", 2s));

  // gw01 may not publish for sub0003 (not in its topology, not logged in).
  owner.Publish(SubTopic("sub0003", "thing/event/property/post"),
                R"({"id":"2","version":"1.0","params":{},"method":"thing.event.property.post"})");
  CHECK_FALSE(watcher->WaitMessage(SubTopic("sub0003", "thing/event/property/post"), 500ms));
}

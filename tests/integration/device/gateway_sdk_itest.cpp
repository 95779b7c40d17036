// A gateway built on the device SDK (libs/device, DeviceOptions::gateway) against the real platform:
// PostgreSQL, Mosquitto with the plugin (sub-device sessions, ACL), iot-gateway (topology, posts),
// iot-api (REST property sets and sync services to sub-devices, topology with live state, the live
// stream) and iot-devsim in gateway mode (a gateway process to kill).

#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/common/clock.hpp"
#include "iot/device/device.hpp"
#include "iot/store/alarms.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/products.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/process.hpp"
#include "stream/ws_client.hpp"

using iot::device::Device;
using iot::device::DeviceOptions;
using iot::device::DownlinkRequest;
using iot::device::Outcome;
using iot::device::Reply;
using iot::device::Responder;
using iot::device::SubDeviceIdentity;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;  // the sub-devices' product (reference thing model)
using iot::gateway::itest::kSecret;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kGwPk = "gwSdkProd01";

std::string SubName(int i) {
  char name[16];
  std::snprintf(name, sizeof name, "sub%03d", i);
  return name;
}

// Database, broker, iot-gateway and iot-api (device control on); a gateway product with gw01, gw02
// and `subs` sub-devices sub000.. of kPk, all with kSecret.
struct World {
  explicit World(int subs) {
    iot::store::ProductCreate product;
    product.product_key = kGwPk;
    product.name = "gateways";
    product.node_type = iot::store::NodeType::kGateway;
    REQUIRE(iot::store::CreateProduct(stack.Db(), product).has_value());
    // The gateway's own properties in pack posts: the same model as its sub-devices'.
    const std::string tsl = iot::gateway::itest::ReadFixture("tsl/valid/reference_example.json");
    REQUIRE(iot::store::PutThingModelDraft(stack.Db(), kGwPk, "", tsl).has_value());
    REQUIRE(iot::store::PublishThingModel(stack.Db(), kGwPk, tsl, "test").has_value());
    for (const char* gw : {"gw01", "gw02"}) {
      iot::store::DeviceCreate create;
      create.device_name = gw;
      create.secret = kSecret;
      REQUIRE(iot::store::CreateDevice(stack.Db(), kGwPk, create).has_value());
    }
    std::vector<iot::store::DeviceCreate> batch;
    for (int i = 0; i < subs; ++i) {
      iot::store::DeviceCreate create;
      create.device_name = SubName(i);
      create.secret = kSecret;
      batch.push_back(create);
    }
    if (!batch.empty()) {
      REQUIRE(iot::store::CreateDevices(stack.Db(), kPk, batch).has_value());
    }
    gateway = std::make_unique<GatewayProcess>(
        stack, "gw-sdk-itest", std::map<std::string, std::string>{{"IOT_GATEWAY_DEVICE_RATE", "0"}});
    REQUIRE(gateway->WaitConnected());
    api = std::make_unique<iot::api::itest::ApiProcess>(
        iot::api::itest::Env{{"IOT_MQTT_HOST", "127.0.0.1"},
                             {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                             {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                             {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                             {"IOT_ONLINE_GRACE_MS", "100"},
                             {"IOT_DOWNLINK_RATE", "0"}},
        stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }
  ~World() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n"
                << gateway->LogTail() << "\n----- api log\n"
                << api->Log() << "\n----- broker log\n"
                << stack.Broker().LogTail() << "\n";
    }
  }

  iot::testing::HttpResponse Rest(const std::string& method, const std::string& path,
                                  const json& body = nullptr) {
    iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1" + path, headers, text);
  }

  // Sub-device name -> status, from the gateway's topology over REST.
  std::map<std::string, std::string> Topology(const std::string& gw) {
    std::map<std::string, std::string> out;
    auto r = Rest("GET", std::string("/products/") + kGwPk + "/devices/" + gw + "/topology");
    last_topology = std::to_string(r.status) + " " + r.body.substr(0, 2000);
    if (r.status != 200) {
      return out;
    }
    const json doc = json::parse(r.body);  // not in the range-for: the temporary would dangle
    for (const json& item : doc["items"]) {
      out[item["deviceName"].get<std::string>()] = item["status"].get<std::string>();
    }
    return out;
  }

  bool AllSubs(const std::string& gw, std::size_t count, const std::string& status) {
    const auto topology = Topology(gw);
    if (topology.size() != count) {
      return false;
    }
    for (const auto& [dn, s] : topology) {
      if (s != status) {
        return false;
      }
    }
    return true;
  }

  std::int64_t Rows(const std::string& sql) {
    auto v = stack.Scalar(sql + " AND $1::bigint IS NOT NULL", 0);
    return v ? std::stoll(*v) : 0;
  }

  Stack stack;
  std::unique_ptr<GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
  std::string last_topology;  // the last GET .../topology, for failure messages
};

DeviceOptions GatewayOptions(World& w, const std::string& dn) {
  DeviceOptions o;
  o.broker_uri = w.stack.Broker().Uri();
  o.product_key = kGwPk;
  o.device_name = dn;
  o.device_secret = kSecret;
  o.gateway = true;
  o.window = 128;
  o.reply_timeout = 2s;
  o.request_deadline = 10s;
  o.reconnect_min = 100ms;
  o.reconnect_max = 1s;
  return o;
}

std::vector<SubDeviceIdentity> Identities(int count) {
  std::vector<SubDeviceIdentity> out;
  for (int i = 0; i < count; ++i) {
    // Both sign methods the SDKs use.
    out.push_back({kPk, SubName(i), kSecret,
                   i % 2 == 0 ? iot::alink::SignMethod::kHmacSha256 : iot::alink::SignMethod::kHmacSha1});
  }
  return out;
}

// Logs the sub-devices in (batch), again for those refused while the new topology reaches the broker.
bool LoginAll(Device& gw, const std::vector<SubDeviceIdentity>& subs) {
  return iot::testing::PollUntil(
      [&] {
        for (const Reply& r : gw.LoginSubDevices(subs)) {
          if (!r.ok()) {
            return false;
          }
        }
        return true;
      },
      10s, 200ms);
}

}  // namespace

TEST_CASE(
    "Gateway SDK: 100 sub-devices log in through one gateway, post, take property sets and sync "
    "services over REST, log out",
    "[integration][device][gateway][subdevices]") {
  constexpr int kSubs = 100;
  World w(kSubs);
  Device gw(GatewayOptions(w, "gw01"));
  const auto subs = Identities(kSubs);

  // Every sub-device's own handlers: property sets counted, SelfTest answered with its own name.
  std::mutex mutex;
  std::map<std::string, json> sets;
  std::atomic<int> sync_calls{0};
  std::atomic<int> misrouted{
      0};  // a handler called for another device (no Catch assertions off the test thread)
  std::vector<iot::device::SubDevice> handles;
  for (const auto& sub : subs) {
    handles.push_back(gw.Sub(sub.product_key, sub.device_name));
    const std::string dn = sub.device_name;
    handles.back().OnPropertySet([&, dn](const DownlinkRequest& r, Responder reply) {
      {
        std::lock_guard lock(mutex);
        sets[dn] = r.params;
      }
      misrouted += r.device_name == dn && r.product_key == kPk ? 0 : 1;
      reply.Ok();
    });
    handles.back().OnService("SelfTest", [&, dn](const DownlinkRequest& r, Responder reply) {
      misrouted += r.sync && r.device_name == dn ? 0 : 1;
      ++sync_calls;
      reply.Ok({{"Passed", 1}, {"Report", dn}});
    });
  }
  REQUIRE(gw.Connect(5s));

  // Topology: every sub-device signed with its own secret.
  const Reply added = gw.AddTopology(subs);
  REQUIRE(added.outcome == Outcome::kReplied);
  CHECK(added.code == 200);
  CHECK(added.data.size() == kSubs);
  const Reply listed = gw.GetTopology();
  REQUIRE(listed.ok());
  CHECK(listed.data.size() == kSubs);

  REQUIRE(LoginAll(gw, subs));
  CHECK(iot::testing::PollUntil([&] { return w.AllSubs("gw01", kSubs, "online"); }, 10s, 100ms));
  // A sub-device's page names its gateway.
  CHECK(json::parse(w.Rest("GET", std::string("/products/") + kPk + "/devices/sub007").body)["gateway"] ==
        json({{"productKey", kGwPk}, {"deviceName", "gw01"}}));

  // Posts on each sub-device's own topics, validated against its product's model and stored as its own.
  std::atomic<int> accepted{0}, done{0};
  for (int i = 0; i < kSubs; ++i) {
    REQUIRE(handles[i].PostPropertiesAsync({{"RunCount", 1000 + i}}, [&](const Reply& r) {
      accepted += r.ok() && r.refusals.empty() ? 1 : 0;
      ++done;
    }) == Outcome::kReplied);
  }
  REQUIRE(iot::testing::PollUntil([&] { return done == kSubs; }, 20s, 20ms));
  CHECK(accepted == kSubs);
  const Reply refused = handles[3].PostProperties({{"Label", 0}});  // Label is text in its model
  REQUIRE(refused.ok());
  REQUIRE(refused.refusals.size() == 1);
  CHECK(refused.refusals[0].code == 6310);
  CHECK(handles[5].PostEvent("LowBattery", {{"Level", 3}, {"Since", "1600000000000"}}).ok());
  CHECK(w.Rows(std::string("SELECT count(*) FROM latest_values v JOIN devices d ON d.id = v.device_id "
                           "WHERE d.product_key = '") +
               kPk + "' AND v.identifier = 'RunCount'") == kSubs);
  auto props =
      json::parse(w.Rest("GET", std::string("/products/") + kPk + "/devices/sub042/properties").body);
  bool found = false;
  for (const json& item : props["items"]) {
    if (item["identifier"] == "RunCount") {
      found = true;
      CHECK(item["value"] == 1042);
    }
  }
  CHECK(found);

  // Property sets over REST reach each sub-device's own handler through the gateway.
  std::vector<std::string> call_ids;
  for (int i = 0; i < kSubs; ++i) {
    auto r = w.Rest("POST", std::string("/products/") + kPk + "/devices/" + SubName(i) + "/properties",
                    {{"params", {{"TargetTemp", 20.5}, {"FanLevel", i % 3}}}});
    REQUIRE(r.status == 202);
    call_ids.push_back(json::parse(r.body)["callId"].get<std::string>());
  }
  REQUIRE(iot::testing::PollUntil(
      [&] {
        std::lock_guard lock(mutex);
        return sets.size() == static_cast<std::size_t>(kSubs);
      },
      20s, 20ms));
  {
    std::lock_guard lock(mutex);
    CHECK(sets["sub011"] == json({{"TargetTemp", 20.5}, {"FanLevel", 2}}));
  }
  for (int i = 0; i < kSubs; i += 9) {  // their replies complete the calls
    const std::string path =
        std::string("/products/") + kPk + "/devices/" + SubName(i) + "/service-calls/" + call_ids[i];
    CHECK(iot::testing::PollUntil(
        [&] { return json::parse(w.Rest("GET", path).body).value("status", "") == "succeeded"; }, 10s, 20ms));
  }

  // Sync services (RRPC) over REST: answered by the addressed sub-device's handler.
  for (int i = 0; i < kSubs; ++i) {
    auto r = w.Rest("POST", std::string("/products/") + kPk + "/devices/" + SubName(i) + "/services/SelfTest",
                    {{"params", {{"Depth", 1}}}});
    REQUIRE(r.status == 200);
    const json call = json::parse(r.body);
    CHECK(call["status"] == "succeeded");
    CHECK(call["output"]["Report"] == SubName(i));
  }
  CHECK(sync_calls == kSubs);
  CHECK(misrouted == 0);

  // Log out (batch): offline over REST; a property set then waits in the queue.
  for (const Reply& r : gw.LogoutSubDevices(subs)) {
    REQUIRE(r.ok());
    for (const json& item : r.data) {
      CHECK(item["code"] == 200);
    }
  }
  CHECK(iot::testing::PollUntil([&] { return w.AllSubs("gw01", kSubs, "offline"); }, 10s, 100ms));
  auto queued = w.Rest("POST", std::string("/products/") + kPk + "/devices/sub001/properties",
                       {{"params", {{"TargetTemp", 19.0}}}});
  REQUIRE(queued.status == 202);
  CHECK(json::parse(queued.body)["status"] == "queued");

  // One at a time: login, logout.
  CHECK(gw.LoginSubDevice(subs[7]).ok());
  CHECK(gw.LoginSubDevice(subs[7]).data == json({{"productKey", kPk}, {"deviceName", "sub007"}}));
  CHECK(gw.LogoutSubDevice(subs[7]).ok());
  CHECK(gw.LogoutSubDevice(subs[7]).code == 520);  // no session any more

  // Topology delete.
  const Reply removed = gw.DeleteTopology({subs[99]});
  CHECK(removed.ok());
  CHECK(gw.GetTopology().data.size() == kSubs - 1);
  CHECK(gw.Stats().connection_losses == 0);
}

TEST_CASE("Gateway SDK: a gateway cannot act for a sub-device not its own or not logged in through it",
          "[integration][device][gateway][subdevices][security]") {
  World w(3);
  Device owner(GatewayOptions(w, "gw01"));
  DeviceOptions other_options = GatewayOptions(w, "gw02");
  other_options.reply_timeout = 500ms;
  other_options.max_attempts = 2;
  other_options.request_deadline = 2s;
  Device other(other_options);
  std::atomic<int> owner_sets{0}, other_sets{0};
  owner.Sub(kPk, "sub000").OnPropertySet([&](const DownlinkRequest&, Responder r) {
    ++owner_sets;
    r.Ok();
  });
  other.Sub(kPk, "sub000").OnPropertySet([&](const DownlinkRequest&, Responder r) {
    ++other_sets;
    r.Ok();
  });
  REQUIRE(owner.Connect(5s));
  REQUIRE(other.Connect(5s));
  const auto subs = Identities(3);
  REQUIRE(owner.AddTopology({subs[0], subs[1]}).ok());
  REQUIRE(LoginAll(owner, {subs[0]}));
  REQUIRE(owner.Sub(kPk, "sub000").PostProperties({{"RunCount", 1}}).ok());

  // gw02: another gateway's sub-device can be neither bound (6619) nor logged in (6401).
  CHECK(other.AddTopology({subs[0]}).code == 6619);
  CHECK(other.LoginSubDevice(subs[0]).code == 6401);
  // A property set for sub000 reaches its own gateway only.
  const bool sub000_online =
      iot::testing::PollUntil([&] { return w.Topology("gw01")["sub000"] == "online"; }, 10s, 100ms);
  INFO(w.last_topology);
  REQUIRE(sub000_online);
  auto r = w.Rest("POST", std::string("/products/") + kPk + "/devices/sub000/properties",
                  {{"params", {{"TargetTemp", 21.0}}}});
  REQUIRE(r.status == 202);
  CHECK(iot::testing::PollUntil([&] { return owner_sets == 1; }, 10s, 20ms));
  // gw02 posting as sub000: refused by the broker (no reply; it closes gw02's connection), not stored.
  const Reply stolen = other.Sub(kPk, "sub000").PostProperties({{"RunCount", 999}});
  CHECK(stolen.outcome == Outcome::kTimedOut);
  CHECK(other_sets == 0);
  const std::int64_t sub000 = w.stack.DeviceId("sub000");
  CHECK(
      w.stack.Scalar("SELECT value::text FROM latest_values WHERE device_id = $1 AND identifier = 'RunCount'",
                     sub000) == std::optional<std::string>("1"));

  // gw01 posting for sub001 (its own topology, not logged in): refused as well, nothing stored.
  const Reply not_logged_in = owner.Sub(kPk, "sub001").PostProperties({{"RunCount", 5}});
  CHECK(not_logged_in.outcome != Outcome::kReplied);
  CHECK(w.stack.Count("SELECT count(*) FROM latest_values WHERE device_id = $1",
                      w.stack.DeviceId("sub001")) == 0);
  // ... and sub002, outside any topology: no login either.
  CHECK(iot::testing::PollUntil([&] { return owner.IsReady(); }, 10s, 50ms));
  CHECK(owner.LoginSubDevice(subs[2]).code == 6401);
}

TEST_CASE(
    "Gateway SDK: killing the gateway's process marks its sub-devices offline within 2 s, on REST and "
    "the live stream",
    "[integration][device][gateway][subdevices][stream]") {
  constexpr int kSubs = 20;
  World w(0);
  // The live stream of the sub-devices' product.
  iot::stream::itest::WsClient::Options ws_options;
  ws_options.bearer = iot::api::itest::kAdminToken;
  auto ws = iot::stream::itest::WsClient::Connect(w.api->Port(), ws_options);
  REQUIRE(ws);
  ws->Send(json{{"subscribe", {{"productKey", kPk}}}}.dump());
  auto ack = ws->Next();
  REQUIRE(ack);
  REQUIRE((*ack)["type"] == "subscribed");

  // iot-devsim simulates a gateway of kGwPk with kSubs sub-devices (registered by it through REST).
  iot::testing::ChildProcess sim(
      {IOT_DEVSIM_BINARY, "--api", "http://127.0.0.1:" + std::to_string(w.api->Port()), "--mqtt",
       w.stack.Broker().Uri(), "--product", kPk, "--gateway-product", kGwPk, "--devices",
       std::to_string(kSubs), "--prefix", "gsim-", "--rate", "20", "--duration", "120", "--json",
       "--no-progress"},
      {{"IOT_ADMIN_TOKEN", iot::api::itest::kAdminToken}},
      iot::testing::MakeTempDir("devsim-gw") + "/devsim.log");
  sim.Start();
  INFO(sim.LogTail());
  REQUIRE(iot::testing::PollUntil([&] { return w.AllSubs("gsim-gw", kSubs, "online"); }, 30s, 100ms));
  std::set<std::string> online;
  while (online.size() < static_cast<std::size_t>(kSubs)) {
    auto m = ws->WaitFor([](const json& m) { return m.value("type", "") == "status"; }, 5s);
    REQUIRE(m);
    if ((*m)["data"]["status"] == "online") {
      online.insert((*m)["deviceName"].get<std::string>());
    }
  }
  // Its sub-devices post through it.
  REQUIRE(iot::testing::PollUntil(
      [&] {
        return w.Rows(std::string("SELECT count(DISTINCT d.id) FROM latest_values v JOIN devices d ON d.id = "
                                  "v.device_id WHERE d.product_key = '") +
                      kPk + "'") >= 5;
      },
      20s, 100ms));

  // SIGKILL: no DISCONNECT, no logout; the broker sees the connection close.
  sim.Kill();
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  std::set<std::string> offline;
  while (offline.size() < static_cast<std::size_t>(kSubs) && std::chrono::steady_clock::now() < deadline) {
    auto m = ws->WaitFor(
        [](const json& m) { return m.value("type", "") == "status" && m["data"]["status"] == "offline"; },
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!m) {
      break;
    }
    offline.insert((*m)["deviceName"].get<std::string>());
  }
  CHECK(offline.size() == kSubs);
  CHECK(iot::testing::PollUntil([&] { return w.AllSubs("gsim-gw", kSubs, "offline"); }, 2s, 20ms));
}

TEST_CASE(
    "Gateway SDK: a pack post is all or nothing - every failure named per device, a good pack stored "
    "for the gateway and its sub-devices",
    "[integration][device][gateway][pack]") {
  World w(3);
  Device gw(GatewayOptions(w, "gw01"));
  REQUIRE(gw.Connect(5s));
  const auto subs = Identities(3);
  REQUIRE(gw.AddTopology({subs[0], subs[1]}).ok());  // sub002 stays outside the topology
  const std::int64_t gw01 = [&] {
    auto d = iot::store::GetDevice(w.stack.Db(), kGwPk, "gw01");
    REQUIRE(d.has_value());
    return d->id;
  }();
  const std::int64_t sub000 = w.stack.DeviceId("sub000");
  const std::int64_t sub001 = w.stack.DeviceId("sub001");
  const std::int64_t t = iot::NowMs() - 1000;
  auto part = [&](const std::string& dn, const json& properties) {
    return json{{"identity", {{"productKey", kPk}, {"deviceName", dn}}}, {"properties", properties}};
  };
  auto stored = [&](std::int64_t device_id) {
    return w.stack.Count("SELECT count(*) FROM latest_values WHERE device_id = $1", device_id) +
           w.stack.Count("SELECT count(*) FROM events WHERE device_id = $1", device_id);
  };

  // One bad value (sub001), one device outside the topology (sub002): the whole pack fails.
  const Reply bad = gw.PostPack(
      {{"properties", {{"RunCount", {{"value", 7}, {"time", t}}}}},
       {"subDevices", json::array({part("sub000", {{"RunCount", {{"value", 8}, {"time", t}}}}),
                                   part("sub001", {{"Label", {{"value", 0}, {"time", t}}}}),  // Label is text
                                   part("sub002", {{"RunCount", {{"value", 9}, {"time", t}}}})})}});
  REQUIRE(bad.outcome == Outcome::kReplied);
  CHECK(bad.code != 200);
  REQUIRE(bad.data.is_array());
  REQUIRE(bad.data.size() == 2);
  CHECK(bad.data[0]["deviceName"] == "sub001");
  CHECK(bad.data[0]["items"]["Label"]["code"] == 6310);
  CHECK(bad.code == bad.data[0]["code"]);
  CHECK(bad.data[1]["deviceName"] == "sub002");
  CHECK(bad.data[1]["code"] == 6401);
  CHECK(stored(gw01) == 0);
  CHECK(stored(sub000) == 0);
  CHECK(stored(sub001) == 0);

  // More than 20 sub-devices: 6357.
  json many = json::array();
  for (int i = 0; i < 21; ++i) {
    many.push_back(part("sub000", {{"RunCount", {{"value", i}, {"time", t}}}}));
  }
  CHECK(gw.PostPack({{"subDevices", many}}).code == 6357);

  // A good pack: the gateway's own properties and event, two sub-devices' properties, each stored as
  // its own device's.
  const Reply good = gw.PostPack(
      {{"properties",
        {{"RunCount", {{"value", 7}, {"time", t}}}, {"Humidity", {{"value", 40.5}, {"time", t}}}}},
       {"events", {{"LowBattery", {{"value", {{"Level", 4}, {"Since", "1600000000000"}}}, {"time", t}}}}},
       {"subDevices", json::array({part("sub000", {{"RunCount", {{"value", 8}, {"time", t}}}}),
                                   part("sub001", {{"FanLevel", {{"value", 1}, {"time", t}}}})})}});
  REQUIRE(good.outcome == Outcome::kReplied);
  CHECK(good.code == 200);
  auto latest = [&](std::int64_t device_id, const std::string& identifier) {
    return w.stack.Scalar(
        "SELECT value::text FROM latest_values WHERE device_id = $1 AND identifier = '" + identifier + "'",
        device_id);
  };
  CHECK(latest(gw01, "RunCount") == std::optional<std::string>("7"));
  CHECK(latest(gw01, "Humidity") == std::optional<std::string>("40.5"));
  CHECK(w.stack.Count("SELECT count(*) FROM events WHERE device_id = $1", gw01) == 1);
  CHECK(latest(sub000, "RunCount") == std::optional<std::string>("8"));
  CHECK(latest(sub001, "FanLevel") == std::optional<std::string>("1"));
  CHECK(w.stack.Count("SELECT count(*) FROM latest_values WHERE device_id = $1",
                      w.stack.DeviceId("sub002")) == 0);

  // Alarm rules of the sub-devices' product apply to their parts of a pack post (live data).
  iot::store::AlarmRule rule;
  rule.product_key = kPk;
  rule.name = "runaway";
  rule.severity = "major";
  rule.when = "RunCount > 100";
  REQUIRE(iot::store::CreateAlarmRule(w.stack.Db(), rule).has_value());
  auto open_alarms = [&](std::int64_t device_id) {
    return w.stack.Count("SELECT count(*) FROM alarms WHERE device_id = $1 AND state <> 'cleared'",
                         device_id);
  };
  // The gateway learns a new rule within about a second: post until it raised.
  REQUIRE(iot::testing::PollUntil(
      [&] {
        const Reply r = gw.PostPack(
            {{"subDevices",
              json::array({part("sub000", {{"RunCount", {{"value", 150}, {"time", iot::NowMs()}}}}),
                           part("sub001", {{"RunCount", {{"value", 5}, {"time", iot::NowMs()}}}})})}});
        return r.code == 200 && open_alarms(sub000) == 1;
      },
      15s, 250ms));
  CHECK(open_alarms(sub001) == 0);
  CHECK(open_alarms(gw01) == 0);
}

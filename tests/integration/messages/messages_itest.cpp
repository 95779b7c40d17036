// Custom topics, broadcast and custom RRPC through the whole platform: REST -> iot-api -> Mosquitto
// (plugin ACL and the RRPC answer re-route) -> devices on the SDK -> gateway -> PostgreSQL -> REST.

#include <condition_variable>
#include <deque>
#include <future>
#include <iostream>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/device/device.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/products.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/mosquitto_process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using iot::gateway::itest::kPk;
using iot::gateway::itest::kSecret;

namespace {

constexpr const char* kOtherPk = "a1OtherProd1";

// What a device received on its custom and broadcast topics.
class Inbox {
 public:
  void Add(const std::string& topic, const std::string& payload) {
    {
      std::lock_guard lock(mutex_);
      messages_.emplace_back(topic, payload);
    }
    cv_.notify_all();
  }
  // The next message on `topic` (earlier ones on other topics are kept).
  std::optional<std::string> Wait(const std::string& topic, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> found;
    cv_.wait_for(lock, timeout, [&] {
      for (auto it = messages_.begin(); it != messages_.end(); ++it) {
        if (it->first == topic) {
          found = it->second;
          messages_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::string>> messages_;
};

struct MessagesStack {
  explicit MessagesStack(iot::api::itest::Env extra = {}) {
    gateway = std::make_unique<iot::gateway::itest::GatewayProcess>(stack, "gw-messages");
    REQUIRE(gateway->WaitConnected(10s));
    iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                                {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                                {"IOT_ONLINE_GRACE_MS", "100"}};
    for (auto& [k, v] : extra) {
      env[k] = v;
    }
    api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }

  ~MessagesStack() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- api log\n"
                << api->Process().LogTail() << "\n----- gateway log\n"
                << gateway->LogTail() << "\n----- broker log\n"
                << stack.Broker().LogTail() << "\n";
    }
  }

  iot::testing::HttpResponse Call(const std::string& method, const std::string& path,
                                  const json& body = nullptr, const std::string& pk = kPk) {
    iot::testing::HttpHeaders headers = {
        {"Authorization", "Bearer " + std::string(iot::api::itest::kAdminToken)}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1/products/" + pk + path, headers, text);
  }

  std::string Status(const std::string& dn, const std::string& pk = kPk) {
    auto r = Call("GET", "/devices/" + dn, nullptr, pk);
    return r.status == 200 ? json::parse(r.body).value("status", "") : "http " + std::to_string(r.status);
  }

  // A device of another product, with the tests' secret.
  void AddOtherDevice(const std::string& dn) {
    if (!iot::store::GetProduct(stack.Db(), kOtherPk)) {
      iot::store::ProductCreate product;
      product.product_key = kOtherPk;
      product.name = "other";
      REQUIRE(iot::store::CreateProduct(stack.Db(), product).has_value());
    }
    iot::store::DeviceCreate create;
    create.device_name = dn;
    auto device = iot::store::CreateDevice(stack.Db(), kOtherPk, create);
    REQUIRE(device.has_value());
    pqxx::connection c(stack.Dsn());
    pqxx::work tx(c);
    tx.exec_params("UPDATE devices SET secret = $1 WHERE id = $2", std::string(kSecret), device->id);
    tx.commit();
  }

  // An SDK device of `pk` subscribed to `subscriptions`, its custom messages in `inbox`; online in the
  // API and past the online grace.
  std::unique_ptr<iot::device::Device> Device(const std::string& dn, std::vector<std::string> subscriptions,
                                              Inbox& inbox, const std::string& pk = kPk,
                                              bool ext_rrpc_services = false) {
    iot::device::DeviceOptions o;
    o.broker_uri = stack.Broker().Uri();
    o.product_key = pk;
    o.device_name = dn;
    o.device_secret = kSecret;
    o.reconnect_min = 100ms;
    o.reconnect_max = 1s;
    o.subscriptions = std::move(subscriptions);
    o.ext_rrpc_services = ext_rrpc_services;
    auto device = std::make_unique<iot::device::Device>(o);
    device->OnMessage(
        [&inbox](const std::string& topic, const std::string& payload) { inbox.Add(topic, payload); });
    REQUIRE(device->Connect(10s));
    REQUIRE(iot::testing::PollUntil([&] { return Status(dn, pk) == "online"; }, 20s, 20ms));
    std::this_thread::sleep_for(200ms);
    return device;
  }

  // GET .../messages with `query`, every page followed; returns all items.
  json ListAll(const std::string& dn, const std::string& query, int* pages = nullptr) {
    json all = json::array();
    std::string cursor;
    int count = 0;
    do {
      std::string path =
          "/devices/" + dn + "/messages?" + query + (cursor.empty() ? "" : "&cursor=" + cursor);
      auto r = Call("GET", path);
      REQUIRE(r.status == 200);
      json page = json::parse(r.body);
      for (auto& item : page["items"]) {
        all.push_back(item);
      }
      cursor =
          page.value("nextCursor", json(nullptr)).is_string() ? page["nextCursor"].get<std::string>() : "";
      ++count;
    } while (!cursor.empty() && count < 100);
    if (pages != nullptr) {
      *pages = count;
    }
    return all;
  }

  iot::gateway::itest::Stack stack;
  std::unique_ptr<iot::gateway::itest::GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
};

std::string UserTopic(const std::string& dn, const std::string& suffix, const std::string& pk = kPk) {
  return "/" + pk + "/" + dn + "/user/" + suffix;
}

}  // namespace

TEST_CASE("Messages: text and base64 to an online device, topics outside /user/ refused",
          "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("msg-0001");
  Inbox inbox;
  auto device = s.Device("msg-0001", {UserTopic("msg-0001", "#")}, inbox);

  auto r = s.Call("POST", "/devices/msg-0001/messages", {{"topic", "user/cmd"}, {"payload", "hello"}});
  REQUIRE(r.status == 200);
  json sent = json::parse(r.body);
  CHECK(sent["status"] == "sent");
  CHECK(sent["direction"] == "down");
  CHECK(sent["topic"] == UserTopic("msg-0001", "cmd"));
  CHECK(inbox.Wait(UserTopic("msg-0001", "cmd")) == "hello");

  // Base64: any bytes, NUL and 0xff included.
  r = s.Call("POST", "/devices/msg-0001/messages",
             {{"topic", "user/bin/a"}, {"payload", "AP8BAg=="}, {"encoding", "base64"}, {"qos", 1}});
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["encoding"] == "base64");
  CHECK(inbox.Wait(UserTopic("msg-0001", "bin/a")) == std::string("\x00\xff\x01\x02", 4));

  // Outside the device's /user/ space, wildcards, tricks, oversize: 400 naming /topic.
  for (const char* bad :
       {"sys/x", "/a1GwTest001/msg-0002/user/x", "user/+", "user/a/#", "user/../x", "user//x", "user/",
        "user/a/", "user/$x", "/sys/a1GwTest001/msg-0001/thing/service/property/set"}) {
    INFO(bad);
    r = s.Call("POST", "/devices/msg-0001/messages", {{"topic", bad}, {"payload", "x"}});
    CHECK(r.status == 400);
    CHECK(r.body.find("/topic") != std::string::npos);
  }
  r = s.Call("POST", "/devices/msg-0001/messages",
             {{"topic", "user/" + std::string(200, 'a')}, {"payload", "x"}});
  CHECK(r.status == 400);
  r = s.Call("POST", "/devices/msg-0001/messages",
             {{"topic", "user/x"}, {"payload", "not base64!"}, {"encoding", "base64"}});
  CHECK(r.status == 400);
  r = s.Call("POST", "/devices/msg-0001/messages", {{"topic", "user/x"}, {"payload", "x"}, {"qos", 2}});
  CHECK(r.status == 400);
  r = s.Call("POST", "/devices/nobody01/messages", {{"topic", "user/x"}, {"payload", "x"}});
  CHECK(r.status == 404);

  // Downlinks are listed with their state; the device's echo of its own subscription is not an uplink.
  json down = s.ListAll("msg-0001", "direction=down&order=asc");
  REQUIRE(down.size() == 2);
  CHECK(down[0]["payload"] == "hello");
  CHECK(down[1]["payload"] == "AP8BAg==");
  CHECK(s.ListAll("msg-0001", "direction=up").empty());
}

TEST_CASE("Messages: QoS 1 to an offline device is delivered on connect, an expired one is not",
          "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("msg-0003");
  auto r = s.Call("POST", "/devices/msg-0003/messages",
                  {{"topic", "user/short"}, {"payload", "too late"}, {"qos", 1}, {"ttlMs", 1000}});
  REQUIRE(r.status == 202);
  CHECK(json::parse(r.body)["status"] == "queued");
  r = s.Call("POST", "/devices/msg-0003/messages", {{"topic", "user/long"}, {"payload", "kept"}, {"qos", 1}});
  REQUIRE(r.status == 202);
  // QoS 0 is not kept for an offline device.
  r = s.Call("POST", "/devices/msg-0003/messages", {{"topic", "user/zero"}, {"payload", "x"}});
  CHECK(r.status == 409);
  std::this_thread::sleep_for(1500ms);  // the first one's time to live passes

  Inbox inbox;
  auto device = s.Device("msg-0003", {UserTopic("msg-0003", "#")}, inbox);
  CHECK(inbox.Wait(UserTopic("msg-0003", "long"), 10s) == "kept");
  CHECK_FALSE(inbox.Wait(UserTopic("msg-0003", "short"), 1s));
  json down = s.ListAll("msg-0003", "direction=down&order=asc");
  REQUIRE(down.size() == 2);
  CHECK(down[0]["status"] == "expired");
  CHECK(down[1]["status"] == "sent");
}

TEST_CASE("Messages: the broker refuses a device's publish to /broadcast and to another device's topics",
          "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("msg-0004");
  s.stack.AddDevice("msg-0005");
  Inbox inbox;
  auto victim =
      s.Device("msg-0005", {UserTopic("msg-0005", "#"), "/broadcast/" + std::string(kPk) + "/#"}, inbox);
  // Mosquitto 2.0 closes an MQTT 3.1.1 connection that publishes where it may not (its log: "Denied
  // PUBLISH", then the device goes offline): each forged publish costs the attacker its connection.
  auto attacker = s.stack.Connect("msg-0004");
  attacker->Publish("/broadcast/" + std::string(kPk) + "/all", "forged", 0);
  CHECK(iot::testing::PollUntil([&] { return !attacker->IsConnected(); }, 5s, 20ms));
  attacker = s.stack.Connect("msg-0004");
  attacker->Publish(UserTopic("msg-0005", "cmd"), "forged", 0);
  CHECK(iot::testing::PollUntil([&] { return !attacker->IsConnected(); }, 5s, 20ms));
  // A refused subscription is answered 0x80 and the connection stays: a device may not subscribe to another
  // product's broadcasts or another device's topics, and may to its own product's broadcasts.
  attacker = s.stack.Connect("msg-0004");
  CHECK(attacker->Subscribe("/broadcast/" + std::string(kOtherPk) + "/#", 0) >= 128);
  CHECK(attacker->Subscribe(UserTopic("msg-0005", "#"), 0) >= 128);
  CHECK(attacker->IsConnected());
  CHECK(attacker->Subscribe("/broadcast/" + std::string(kPk) + "/#", 0) < 128);
  // Its own custom topic is stored (it reached the platform after the refused ones).
  REQUIRE(attacker->Publish(UserTopic("msg-0004", "update"), "mine", 0));
  REQUIRE(
      iot::testing::PollUntil([&] { return s.ListAll("msg-0004", "direction=up").size() == 1; }, 10s, 50ms));
  CHECK_FALSE(inbox.Wait("/broadcast/" + std::string(kPk) + "/all", 500ms));
  CHECK_FALSE(inbox.Wait(UserTopic("msg-0005", "cmd"), 100ms));
  CHECK(s.ListAll("msg-0005", "direction=up").empty());
}

TEST_CASE("Messages: a broadcast reaches every device of the product and none of another, rate limited",
          "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("msg-0006");
  s.stack.AddDevice("msg-0007");
  s.AddOtherDevice("other-0001");
  const std::string filter = "/broadcast/" + std::string(kPk) + "/#";
  Inbox a;
  Inbox b;
  Inbox other;
  auto da = s.Device("msg-0006", {filter}, a);
  auto db = s.Device("msg-0007", {filter}, b);
  auto dother = s.Device("other-0001", {"/broadcast/" + std::string(kOtherPk) + "/#"}, other, kOtherPk);

  auto r = s.Call("POST", "/broadcast", {{"topic", "ota/notice"}, {"payload", "v2"}});
  REQUIRE(r.status == 200);
  const std::string topic = "/broadcast/" + std::string(kPk) + "/ota/notice";
  CHECK(json::parse(r.body)["topic"] == topic);
  CHECK(a.Wait(topic) == "v2");
  CHECK(b.Wait(topic) == "v2");
  CHECK_FALSE(other.Wait(topic, 500ms));
  // Alibaba: one broadcast per second per product.
  r = s.Call("POST", "/broadcast", {{"topic", "ota/notice"}, {"payload", "again"}});
  CHECK(r.status == 429);
  r = s.Call("POST", "/broadcast", {{"topic", "a/+"}, {"payload", "x"}});
  CHECK(r.status == 400);
  r = s.Call("POST", "/broadcast", {{"topic", "x"}, {"payload", "x"}}, "a1NoSuchProd");
  CHECK(r.status == 404);
}

TEST_CASE("Messages: custom RRPC round trip and timeout, sync services over /ext/rrpc (RRPC_NEW)",
          "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("msg-0008");
  Inbox inbox;
  const std::string rrpc_filter = "/ext/rrpc/+/" + std::string(kPk) + "/msg-0008/user/get";
  auto device = s.Device("msg-0008", {rrpc_filter}, inbox, kPk, /*ext_rrpc_services=*/true);
  std::atomic<int> requests{0};
  device->OnCustomRrpc([&](const std::string& topic, const std::string& payload, auto answer) {
    ++requests;
    answer("pong:" + payload + "@" + topic);
  });
  device->OnService("SelfTest",
                    [](const iot::device::DownlinkRequest& request, iot::device::Responder reply) {
                      reply.Ok({{"Passed", request.sync ? 1 : 0}, {"Report", request.topic}});
                    });

  auto r = s.Call("POST", "/devices/msg-0008/rrpc",
                  {{"topic", "user/get"}, {"payload", "ping"}, {"timeoutMs", 5000}});
  REQUIRE(r.status == 200);
  json answer = json::parse(r.body);
  CHECK(answer["rrpcCode"] == "SUCCESS");
  CHECK(answer["payload"] == "pong:ping@" + std::string(kPk) + "/msg-0008/user/get");
  CHECK(answer["message"]["status"] == "answered");
  CHECK(answer["message"]["topic"].get<std::string>().starts_with("/ext/rrpc/"));
  std::this_thread::sleep_for(300ms);
  CHECK(requests == 1);  // its answer was not delivered back to it as a new request

  // A topic the device does not serve: Alibaba's TIMEOUT, as 504 after timeoutMs.
  r = s.Call("POST", "/devices/msg-0008/rrpc",
             {{"topic", "user/none"}, {"payload", "x"}, {"timeoutMs", 1000}});
  CHECK(r.status == 504);
  r = s.Call("POST", "/devices/msg-0008/rrpc",
             {{"topic", "user/get"}, {"payload", "x"}, {"timeoutMs", 9000}});
  CHECK(r.status == 400);

  // The C SDK's RRPC_NEW form of a sync service: request and answer on /ext/rrpc/{id}/sys/...
  r = s.Call("POST", "/devices/msg-0008/services/SelfTest",
             {{"params", {{"Depth", 1}}}, {"rrpcForm", "ext"}});
  REQUIRE(r.status == 200);
  json call = json::parse(r.body);
  CHECK(call["status"] == "succeeded");
  CHECK(call["output"]["Passed"] == 1);
  CHECK(call["output"]["Report"].get<std::string>().starts_with("/ext/rrpc/"));
}

TEST_CASE("Messages: what a device publishes on its custom topics is stored and paged",
          "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("msg-0009");
  Inbox inbox;
  auto device = s.Device("msg-0009", {}, inbox);
  for (int i = 0; i < 7; ++i) {
    REQUIRE(device->Publish(UserTopic("msg-0009", "update"), "n" + std::to_string(i), 1));
  }
  REQUIRE(device->Publish(UserTopic("msg-0009", "raw"), std::string("\x01\x02", 2), 1));
  REQUIRE(
      iot::testing::PollUntil([&] { return s.ListAll("msg-0009", "direction=up").size() == 8; }, 10s, 50ms));
  int pages = 0;
  json up = s.ListAll("msg-0009", "direction=up&order=asc&limit=3", &pages);
  CHECK(pages == 3);
  REQUIRE(up.size() == 8);
  for (int i = 0; i < 7; ++i) {
    CHECK(up[i]["payload"] == "n" + std::to_string(i));
    CHECK(up[i]["status"] == "received");
    CHECK(up[i]["direction"] == "up");
  }
  CHECK(up[7]["encoding"] == "base64");
  CHECK(up[7]["payload"] == "AQI=");
  auto r = s.Call("GET", "/devices/msg-0009/messages?direction=sideways");
  CHECK(r.status == 400);
  r = s.Call("GET", "/devices/msg-0009/messages?cursor=garbage");
  CHECK(r.status == 400);
}

TEST_CASE(
    "Messages: a device named \"user\" gets one reply per post (its thing topics match /+/+/user/# too)",
    "[integration][messages]") {
  MessagesStack s;
  s.stack.AddDevice("user");
  auto device = s.stack.Connect("user");
  const std::string sys = "/sys/" + std::string(kPk) + "/user/thing/event/property/post";
  REQUIRE(device->Subscribe(sys + "_reply", 1) < 128);
  REQUIRE(device->Publish(
      sys, R"({"id":"41","version":"1.0","params":{},"method":"thing.event.property.post"})", 1));
  auto reply = device->WaitMessage(sys + "_reply", 10s);
  REQUIRE(reply);
  CHECK(json::parse(reply->payload)["id"] == "41");
  CHECK_FALSE(device->WaitMessage(sys + "_reply", 1500ms));  // the custom-topic filter's copy is not answered
  // Its custom topics are still stored, once each.
  REQUIRE(device->Publish(UserTopic("user", "update"), "mine", 1));
  REQUIRE(iot::testing::PollUntil([&] { return s.ListAll("user", "direction=up").size() == 1; }, 10s, 50ms));
  std::this_thread::sleep_for(500ms);
  CHECK(s.ListAll("user", "direction=up").size() == 1);
}

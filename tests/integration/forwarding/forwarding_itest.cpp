// Forwarding end to end: real devices post through the real broker (with the plugin) and the real
// iot-gateway into PostgreSQL; the gateway's forwarder delivers the outbox to a real HTTP server in this
// test (iot::testing::WebhookReceiver), which checks every request's signature. Each test has its own
// database, broker and gateway.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "gateway/gateway_stack.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/forwarding.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/process.hpp"
#include "iot/testing/webhook_receiver.hpp"

using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Request;
using iot::gateway::itest::Stack;
using iot::testing::WebhookReceiver;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSecret = "webhook-secret-1";

json Post(const std::string& id, json params) {
  return json{
      {"id", id}, {"version", "1.0"}, {"params", std::move(params)}, {"method", "thing.event.property.post"}};
}

std::string PostTopic(const std::string& dn) {
  return std::string("/sys/") + kPk + "/" + dn + "/thing/event/property/post";
}

std::int64_t AddRule(Stack& stack, const std::string& url, const std::string& filter = "",
                     std::vector<std::string> kinds = {"property"}, const std::string& secret = kSecret,
                     std::optional<std::string> product = std::string(kPk)) {
  iot::store::ForwardRuleCreate create;
  create.name = "test rule";
  create.product_key = std::move(product);
  create.kinds = std::move(kinds);
  create.filter = filter;
  create.destinations_json = json::array({{{"type", "webhook"}, {"url", url}, {"secret", secret}}}).dump();
  auto rule = iot::store::CreateForwardRule(stack.Db(), create);
  REQUIRE(rule.has_value());
  return rule->id;
}

const std::map<std::string, std::string> kFastRetry = {
    {"IOT_FORWARD_RETRY_MAX_MS", "300"}, {"IOT_FORWARD_BATCH", "20"}, {"IOT_FORWARD_TIMEOUT_MS", "2000"}};

// Posts RunCount = n from `device`; true when acknowledged with 200.
bool PostCount(iot::testing::MqttTestClient& device, const std::string& dn, int n, double temp = 20) {
  auto reply =
      Request(device, PostTopic(dn), Post(std::to_string(n), {{"RunCount", n}, {"TargetTemp", temp}}));
  return reply && (*reply)["code"] == 200;
}

// The RunCount values `dn`'s forwarded property posts carried, each message once (first delivery).
std::vector<int> CountsOf(const std::vector<WebhookReceiver::Message>& received, const std::string& dn) {
  std::vector<int> out;
  std::set<std::string> seen;
  for (const auto& m : received) {
    if (m.device_name != dn || !m.payload.contains("items") || !m.payload["items"].contains("RunCount") ||
        !seen.insert(m.message_id).second) {
      continue;
    }
    out.push_back(m.payload["items"]["RunCount"]["value"].get<int>());
  }
  return out;
}

std::int64_t OutboxRows(Stack& stack) {
  pqxx::connection c(stack.Dsn());
  pqxx::work tx(c);
  return tx.exec1("SELECT count(*) FROM forward_outbox")[0].as<std::int64_t>();
}

}  // namespace

TEST_CASE("Forwarding: without rules no outbox row is written", "[integration][forwarding]") {
  Stack stack;
  stack.AddDevice("dev01");
  GatewayProcess gateway(stack, "gw-fwd-none", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  auto device = stack.Connect("dev01");
  for (int i = 1; i <= 5; ++i) {
    REQUIRE(PostCount(*device, "dev01", i));
  }
  CHECK(stack.Count("SELECT count(*) FROM property_posts WHERE device_id = $1", stack.DeviceId("dev01")) ==
        5);
  CHECK(OutboxRows(stack) == 0);
}

TEST_CASE(
    "Forwarding: every acknowledged post reaches the webhook once at least and per device in order "
    "while the receiver stops and the gateway is killed -9",
    "[integration][forwarding]") {
  Stack stack;
  const std::vector<std::string> devices = {"dev01", "dev02"};
  for (const auto& dn : devices) {
    stack.AddDevice(dn);
  }
  WebhookReceiver receiver(kSecret);
  // A slow receiver, so that the kill lands while batches are in flight.
  receiver.SetAnswer([](const json&) {
    std::this_thread::sleep_for(20ms);
    return 200;
  });
  const std::int64_t rule = AddRule(stack, receiver.Url());
  // Retried without a limit: on a loaded machine the receiver's absence can outlast 10 fast attempts (the
  // default limit, after which a message would go to the dead letters and the count below would fail).
  auto env = kFastRetry;
  env["IOT_FORWARD_MAX_ATTEMPTS"] = "0";
  auto gateway = std::make_unique<GatewayProcess>(stack, "gw-fwd-order", env);
  REQUIRE(gateway->WaitConnected());
  std::map<std::string, std::unique_ptr<iot::testing::MqttTestClient>> clients;
  for (const auto& dn : devices) {
    clients[dn] = stack.Connect(dn);
  }
  std::map<std::string, std::vector<int>> acknowledged;
  int n = 0;
  auto post_round = [&](int count) {
    for (int i = 0; i < count; ++i) {
      ++n;
      for (const auto& dn : devices) {
        if (PostCount(*clients[dn], dn, n)) {
          acknowledged[dn].push_back(n);
        }
      }
    }
  };
  post_round(20);
  // The receiver goes away: deliveries fail and are retried, posts are still acknowledged.
  receiver.Stop();
  post_round(20);
  std::this_thread::sleep_for(1s);
  receiver.Start();
  post_round(10);
  // The gateway (and its forwarder) dies without a word; a new one takes over the rule once the lease
  // of the dead one expires.
  gateway->Process().Kill();
  gateway = std::make_unique<GatewayProcess>(stack, "gw-fwd-order", env);
  REQUIRE(gateway->WaitConnected());
  post_round(20);
  INFO(gateway->LogTail());
  const bool all = iot::testing::PollUntil(
      [&] {
        const auto received = receiver.Received();
        for (const auto& dn : devices) {
          const auto counts = CountsOf(received, dn);
          const std::set<int> got(counts.begin(), counts.end());
          for (int a : acknowledged[dn]) {
            if (got.count(a) == 0) {
              return false;
            }
          }
        }
        return true;
      },
      90s, 200ms);
  CHECK(all);
  const auto received = receiver.Received();
  for (const auto& dn : devices) {
    INFO(dn);
    CHECK(acknowledged[dn].size() >= 60);
    const auto counts = CountsOf(received, dn);
    CHECK(std::is_sorted(counts.begin(), counts.end()));  // first deliveries in the device's order
    CHECK(std::adjacent_find(counts.begin(), counts.end()) == counts.end());
  }
  // The bodies are the server-side subscription's property post.
  REQUIRE_FALSE(received.empty());
  const auto& first = received.front();
  CHECK(first.topic == std::string("/") + kPk + "/" + first.device_name + "/thing/event/property/post");
  CHECK(first.payload["productKey"] == kPk);
  CHECK(first.payload["deviceName"] == first.device_name);
  CHECK(first.payload["iotId"].is_string());
  CHECK_FALSE(first.payload["iotId"].get<std::string>().empty());
  CHECK(first.payload["items"]["TargetTemp"]["value"] == 20);
  CHECK(first.payload["items"]["RunCount"]["time"].is_number_integer());
  CHECK(first.payload["requestId"].is_string());
  CHECK(receiver.BadSignatures() == 0);
  CHECK(receiver.GoodSignatures() > 0);
  // Delivered, counted, and the outbox pruned behind the cursor.
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto status = iot::store::GetForwardStatus(stack.Db(), rule);
        return status && status->lag_messages == 0 && OutboxRows(stack) == 0;
      },
      30s, 200ms));
  auto status = iot::store::GetForwardStatus(stack.Db(), rule);
  REQUIRE(status.has_value());
  CHECK(status->delivered >= 120);
  CHECK(status->failed >= 1);  // while the receiver was away
  CHECK(status->dead == 0);
  CHECK(gateway->Metrics().find("iot_forward_delivered_total{rule=\"" + std::to_string(rule) + "\"}") !=
        std::string::npos);
}

TEST_CASE(
    "Forwarding: device lifecycle (create, disable, enable, delete) reaches a lifecycle rule in order - the "
    "deviceSecret only where an admin opted in",
    "[integration][forwarding]") {
  Stack stack;
  WebhookReceiver plain(kSecret);
  WebhookReceiver with_secret(kSecret);
  AddRule(stack, plain.Url(), "", {"lifecycle"});
  iot::store::ForwardRuleCreate create;
  create.name = "provisioning";
  create.kinds = {"lifecycle", "property"};  // every product
  create.include_device_secret = true;
  create.destinations_json =
      json::array({{{"type", "webhook"}, {"url", with_secret.Url()}, {"secret", kSecret}}}).dump();
  REQUIRE(iot::store::CreateForwardRule(stack.Db(), create).has_value());
  GatewayProcess gateway(stack, "gw-fwd-life", kFastRetry);
  REQUIRE(gateway.WaitConnected());

  stack.AddDevice("dev07");
  iot::store::DevicePatch disable;
  disable.enabled = false;
  REQUIRE(iot::store::PatchDevice(stack.Db(), kPk, "dev07", disable).has_value());
  REQUIRE(iot::store::PatchDevice(stack.Db(), kPk, "dev07", disable).has_value());  // no change: no message
  iot::store::DevicePatch enable;
  enable.enabled = true;
  REQUIRE(iot::store::PatchDevice(stack.Db(), kPk, "dev07", enable).has_value());
  iot::store::DevicePatch rename;
  rename.nickname = "seventh";
  REQUIRE(iot::store::PatchDevice(stack.Db(), kPk, "dev07", rename).has_value());  // not a lifecycle change
  REQUIRE(iot::store::DeleteDevice(stack.Db(), kPk, "dev07").has_value());

  const auto actions = [](const WebhookReceiver& receiver) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& m : receiver.Received()) {
      if (seen.insert(m.message_id).second) {
        out.push_back(m.payload.value("action", ""));
      }
    }
    return out;
  };
  const std::vector<std::string> expected = {"create", "disable", "enable", "delete"};
  REQUIRE(iot::testing::PollUntil(
      [&] { return actions(plain).size() >= 4 && actions(with_secret).size() >= 4; }, 20s, 100ms));
  CHECK(actions(plain) == expected);
  CHECK(actions(with_secret) == expected);
  const auto first = plain.Received().front();
  CHECK(first.topic == std::string("/") + kPk + "/dev07/thing/lifecycle");
  CHECK(first.device_name == "dev07");
  CHECK(first.payload["productKey"] == kPk);
  CHECK(first.payload["iotId"].is_string());
  CHECK(first.payload["messageCreateTime"].is_number_integer());
  for (const auto& m : plain.Received()) {
    CHECK_FALSE(m.payload.contains("deviceSecret"));
  }
  // Alibaba's create message carries the secret; the opted-in rule gets it there and nowhere else.
  for (const auto& m : with_secret.Received()) {
    INFO(m.payload.dump());
    CHECK(m.payload.contains("deviceSecret") == (m.payload["action"] == "create"));
  }
  const json created = with_secret.Received().front().payload;
  CHECK((created["deviceSecret"].is_string() && !created["deviceSecret"].get<std::string>().empty()));
  CHECK(plain.BadSignatures() == 0);
}

TEST_CASE("Forwarding: a filter forwards only the messages it matches, a product rule only its product",
          "[integration][forwarding]") {
  Stack stack;
  stack.AddDevice("dev01");
  WebhookReceiver hot(kSecret), other(kSecret), status(kSecret);
  AddRule(stack, hot.Url(), "TargetTemp > 30 && RunCount != 3");
  AddRule(stack, other.Url(), "", {"property"}, kSecret, std::string("a1OtherPk01"));
  AddRule(stack, status.Url(), "status == 'online'", {"status"}, kSecret, std::nullopt);
  GatewayProcess gateway(stack, "gw-fwd-filter", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  auto device = stack.Connect("dev01");
  REQUIRE(PostCount(*device, "dev01", 1, 20));
  REQUIRE(PostCount(*device, "dev01", 2, 31));
  REQUIRE(PostCount(*device, "dev01", 3, 32));  // excluded by RunCount != 3
  REQUIRE(PostCount(*device, "dev01", 4, 33.5));
  REQUIRE(iot::testing::PollUntil([&] { return hot.Received().size() >= 2 && !status.Received().empty(); },
                                  20s, 100ms));
  std::this_thread::sleep_for(1s);
  CHECK(CountsOf(hot.Received(), "dev01") == std::vector<int>{2, 4});
  CHECK(other.Requests() == 0);
  const auto online = status.Received();
  REQUIRE_FALSE(online.empty());
  CHECK(online.front().topic == std::string("/as/mqtt/status/") + kPk + "/dev01");
  CHECK(online.front().payload["status"] == "online");
  CHECK(online.front().payload["lastTime"].is_string());
  CHECK(online.front().payload["utcLastTime"].is_string());
  CHECK(online.front().payload["iotId"].is_string());
}

TEST_CASE(
    "Forwarding: a refused message goes to dead letters alone, a failing one after the attempts, "
    "and replay delivers them with their first messageId",
    "[integration][forwarding]") {
  Stack stack;
  stack.AddDevice("dev01");
  WebhookReceiver receiver(kSecret);
  std::atomic<bool> poison_refused{true};
  std::atomic<bool> all_fail{false};
  receiver.SetAnswer([&](const json& batch) {
    if (all_fail) {
      return 503;
    }
    for (const auto& m : batch) {
      if (poison_refused && m["payload"]["items"]["RunCount"]["value"] == 13) {
        return 400;
      }
    }
    return 200;
  });
  const std::int64_t rule = AddRule(stack, receiver.Url());
  auto env = kFastRetry;
  env["IOT_FORWARD_MAX_ATTEMPTS"] = "3";
  GatewayProcess gateway(stack, "gw-fwd-dead", env);
  REQUIRE(gateway.WaitConnected());
  auto device = stack.Connect("dev01");
  for (int i = 10; i <= 16; ++i) {
    REQUIRE(PostCount(*device, "dev01", i));
  }
  // 13 is refused: it alone goes to the dead letters, the others are delivered in order.
  REQUIRE(iot::testing::PollUntil([&] { return CountsOf(receiver.Received(), "dev01").size() >= 6; }, 30s,
                                  100ms));
  CHECK(CountsOf(receiver.Received(), "dev01") == std::vector<int>{10, 11, 12, 14, 15, 16});
  auto letters = iot::store::ListDeadLetters(stack.Db(), rule, {});
  REQUIRE(letters.has_value());
  REQUIRE(letters->items.size() == 1);
  CHECK(letters->items[0].error == "webhook answered HTTP 400");
  CHECK(json::parse(letters->items[0].payload_json)["items"]["RunCount"]["value"] == 13);
  const std::string poison_id = letters->items[0].message_id;

  // A destination that keeps failing: after 3 attempts the message goes to the dead letters.
  all_fail = true;
  REQUIRE(PostCount(*device, "dev01", 17));
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto l = iot::store::ListDeadLetters(stack.Db(), rule, {});
        return l && l->items.size() == 2;
      },
      30s, 100ms));
  auto status = iot::store::GetForwardStatus(stack.Db(), rule);
  REQUIRE(status.has_value());
  CHECK(status->dead == 2);
  CHECK(status->dead_letters == 2);
  CHECK(status->failed >= 4);
  CHECK(status->lag_messages == 0);

  // Replay: both are delivered, with the messageId they had.
  all_fail = false;
  poison_refused = false;
  auto replayed = iot::store::ReplayDeadLetters(stack.Db(), rule, std::nullopt);
  REQUIRE(replayed.has_value());
  CHECK(*replayed == 2);
  REQUIRE(iot::testing::PollUntil([&] { return CountsOf(receiver.Received(), "dev01").size() >= 8; }, 30s,
                                  100ms));
  CHECK(CountsOf(receiver.Received(), "dev01") == std::vector<int>{10, 11, 12, 14, 15, 16, 13, 17});
  bool same_id = false;
  for (const auto& m : receiver.Received()) {
    same_id |= m.message_id == poison_id;
  }
  CHECK(same_id);
  CHECK(iot::store::ListDeadLetters(stack.Db(), rule, {})->items.empty());
}

TEST_CASE("Forwarding: a receiver with another secret sees every signature fail",
          "[integration][forwarding]") {
  Stack stack;
  stack.AddDevice("dev01");
  WebhookReceiver receiver("not-the-rule-secret");
  AddRule(stack, receiver.Url());
  GatewayProcess gateway(stack, "gw-fwd-sig", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  auto device = stack.Connect("dev01");
  REQUIRE(PostCount(*device, "dev01", 1));
  REQUIRE(iot::testing::PollUntil([&] { return receiver.Requests() >= 1; }, 20s, 100ms));
  CHECK(receiver.BadSignatures() == receiver.Requests());
  CHECK(receiver.GoodSignatures() == 0);
}

TEST_CASE("Forwarding: nothing acknowledged is lost while PostgreSQL restarts (the services' own roles)",
          "[integration][forwarding]") {
  Stack stack(iot::store::ValidationMode::kWeak, /*private_pg=*/true);
  stack.AddDevice("dev01");
  WebhookReceiver receiver(kSecret);
  AddRule(stack, receiver.Url());
  GatewayProcess gateway(stack, "gw-fwd-pg", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  auto device = stack.Connect("dev01");
  std::vector<int> acknowledged;
  for (int n = 1; n <= 10; ++n) {
    if (PostCount(*device, "dev01", n)) {
      acknowledged.push_back(n);
    }
  }
  REQUIRE(acknowledged.size() == 10);
  // PostgreSQL goes away: posts wait in the gateway (answered after their commit), forwarding fails.
  stack.Pg()->Stop();
  std::thread restart([&] {
    std::this_thread::sleep_for(3s);
    stack.Pg()->Start();
  });
  for (int n = 11; n <= 15; ++n) {
    auto reply = Request(*device, PostTopic("dev01"), Post(std::to_string(n), {{"RunCount", n}}), 30s);
    if (reply && (*reply)["code"] == 200) {
      acknowledged.push_back(n);
    }
  }
  restart.join();
  for (int n = 16; n <= 20; ++n) {
    if (PostCount(*device, "dev01", n)) {
      acknowledged.push_back(n);
    }
  }
  INFO(gateway.LogTail());
  CHECK(acknowledged.size() >= 15);
  REQUIRE(iot::testing::PollUntil(
      [&] {
        const auto counts = CountsOf(receiver.Received(), "dev01");
        const std::set<int> got(counts.begin(), counts.end());
        return std::all_of(acknowledged.begin(), acknowledged.end(), [&](int a) { return got.count(a) > 0; });
      },
      60s, 200ms));
  const auto counts = CountsOf(receiver.Received(), "dev01");
  CHECK(std::is_sorted(counts.begin(), counts.end()));
  CHECK(receiver.BadSignatures() == 0);
}

TEST_CASE(
    "Forwarding: a custom-topic message and a device reply completing its call are forwarded - a second "
    "reply to the same call is not",
    "[integration][forwarding]") {
  Stack stack;
  const std::int64_t device_id = stack.AddDevice("dev01");
  WebhookReceiver receiver(kSecret);
  AddRule(stack, receiver.Url(), "", {"message", "reply"});
  iot::store::ServiceCallCreate call;
  call.device_id = device_id;
  call.identifier = "set";
  call.status = iot::store::ServiceCallStatus::kSent;
  call.params_json = R"({"TargetTemp":25})";
  call.alink_id = "777";
  REQUIRE(iot::store::CreateServiceCall(stack.Db(), call).has_value());
  GatewayProcess gateway(stack, "gw-fwd-kinds", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto device = stack.Connect("dev01");
  const std::string custom = std::string("/") + kPk + "/dev01/user/update";
  REQUIRE(device->Publish(custom, R"({"Temp":41})", 1));
  const std::string reply_topic = std::string("/sys/") + kPk + "/dev01/thing/service/property/set_reply";
  REQUIRE(device->Publish(reply_topic, R"({"id":"777","code":200,"data":{}})", 1));
  REQUIRE(iot::testing::PollUntil([&] { return receiver.Received().size() >= 2; }, 20s, 100ms));
  // The same reply again: the call is answered already, nothing is stored, nothing forwarded.
  REQUIRE(device->Publish(reply_topic, R"({"id":"777","code":200,"data":{}})", 1));
  REQUIRE(device->Publish(custom, R"({"Temp":42})", 1));
  REQUIRE(iot::testing::PollUntil([&] { return receiver.Received().size() >= 3; }, 20s, 100ms));
  std::this_thread::sleep_for(1s);
  const auto received = receiver.Received();
  std::map<std::string, int> by_topic;
  for (const auto& m : received) {
    ++by_topic[m.topic];
  }
  CHECK(by_topic[custom] == 2);
  const std::string forwarded_reply = std::string("/") + kPk + "/dev01/thing/downlink/reply/message";
  CHECK(by_topic[forwarded_reply] == 1);
  for (const auto& m : received) {
    if (m.topic == forwarded_reply) {
      CHECK(m.payload["requestId"] == "777");
      CHECK(m.payload["code"] == 200);
      CHECK(m.payload["topic"] == reply_topic);
      CHECK(m.payload["iotId"].is_string());
    } else if (m.payload["payload"]["Temp"] == 41) {
      CHECK(m.payload["payloadEncoding"] == "json");
      CHECK(m.payload["topic"] == custom);
    }
  }
  CHECK(receiver.BadSignatures() == 0);
}

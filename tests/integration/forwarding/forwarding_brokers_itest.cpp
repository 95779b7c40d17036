// Forwarding to message brokers end to end: real devices post through the real broker (with the plugin)
// and the real iot-gateway into PostgreSQL; the gateway's forwarder publishes the outbox to a real
// RabbitMQ (started by the test on free ports, killed and restarted) read back with librabbitmq, and to
// an MQTT topic on the platform's own broker read by a subscribed client.

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/gateway_stack.hpp"
#include "iot/store/forwarding.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/process.hpp"
#include "iot/testing/rabbitmq_process.hpp"

using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Request;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kExchange = "iot.forward";

const std::map<std::string, std::string> kFastRetry = {
    {"IOT_FORWARD_RETRY_MAX_MS", "300"}, {"IOT_FORWARD_BATCH", "20"}, {"IOT_FORWARD_TIMEOUT_MS", "2000"}};

std::string PostTopic(const std::string& dn) {
  return std::string("/sys/") + kPk + "/" + dn + "/thing/event/property/post";
}

// Posts RunCount = n from `device`; true when acknowledged with 200.
bool PostCount(iot::testing::MqttTestClient& device, const std::string& dn, int n) {
  json post = {{"id", std::to_string(n)},
               {"version", "1.0"},
               {"params", {{"RunCount", n}, {"TargetTemp", 20}}},
               {"method", "thing.event.property.post"}};
  auto reply = Request(device, PostTopic(dn), post);
  return reply && (*reply)["code"] == 200;
}

std::int64_t AddRule(Stack& stack, const json& destination) {
  iot::store::ForwardRuleCreate create;
  create.name = "broker rule";
  create.product_key = std::string(kPk);
  create.kinds = {"property"};
  create.destinations_json = json::array({destination}).dump();
  auto rule = iot::store::CreateForwardRule(stack.Db(), create);
  REQUIRE(rule.has_value());
  return rule->id;
}

// A forwarded message as a consumer saw it.
struct Seen {
  std::string message_id;
  std::string device_name;
  std::string topic;        // the forwarded topic (AMQP: the "topic" header; MQTT: the envelope's)
  std::string routing_key;  // AMQP only
  std::string content_type;
  json payload;
};

// The RunCount values of `dn`'s messages, each message once (its first delivery), in arrival order.
std::vector<int> CountsOf(const std::vector<Seen>& seen, const std::string& dn) {
  std::vector<int> out;
  std::set<std::string> ids;
  for (const auto& m : seen) {
    if (m.device_name != dn || !m.payload.contains("items") || !m.payload["items"].contains("RunCount") ||
        !ids.insert(m.message_id).second) {
      continue;
    }
    out.push_back(m.payload["items"]["RunCount"]["value"].get<int>());
  }
  return out;
}

bool HasAll(const std::vector<Seen>& seen, const std::map<std::string, std::vector<int>>& acknowledged) {
  for (const auto& [dn, counts] : acknowledged) {
    const auto got = CountsOf(seen, dn);
    const std::set<int> set(got.begin(), got.end());
    for (int c : counts) {
      if (set.count(c) == 0) {
        return false;
      }
    }
  }
  return true;
}

// Devices of kPk that post RunCount = 1, 2, ... in rounds (every device once per number), remembering
// what the platform acknowledged.
class Posters {
 public:
  Posters(Stack& stack, std::vector<std::string> devices) : stack_(stack), devices_(std::move(devices)) {
    for (const auto& dn : devices_) {
      stack_.AddDevice(dn);
    }
  }
  void Connect() {
    for (const auto& dn : devices_) {
      clients_[dn] = stack_.Connect(dn);
    }
  }
  void Round(int count) {
    for (int i = 0; i < count; ++i) {
      ++n_;
      for (const auto& dn : devices_) {
        if (PostCount(*clients_[dn], dn, n_)) {
          acknowledged_[dn].push_back(n_);
        }
      }
    }
  }
  const std::map<std::string, std::vector<int>>& Acknowledged() const { return acknowledged_; }

  // Every acknowledged post was delivered; first deliveries in each device's order, none twice.
  void CheckDelivered(const std::vector<Seen>& seen, std::size_t min_acknowledged) const {
    for (const auto& [dn, acknowledged] : acknowledged_) {
      INFO(dn);
      CHECK(acknowledged.size() >= min_acknowledged);
      const auto counts = CountsOf(seen, dn);
      std::string order;
      for (int c : counts) {
        order += std::to_string(c) + " ";
      }
      INFO("first deliveries: " << order);
      const std::set<int> got(counts.begin(), counts.end());
      std::vector<int> missing;
      for (int a : acknowledged) {
        if (got.count(a) == 0) {
          missing.push_back(a);
        }
      }
      CHECK(missing.empty());
      CHECK(std::is_sorted(counts.begin(), counts.end()));
      CHECK(std::adjacent_find(counts.begin(), counts.end()) == counts.end());
    }
  }

 private:
  Stack& stack_;
  std::vector<std::string> devices_;
  std::map<std::string, std::unique_ptr<iot::testing::MqttTestClient>> clients_;
  std::map<std::string, std::vector<int>> acknowledged_;
  int n_ = 0;
};

// A librabbitmq connection for the test's own use (declarations, reading a queue).
class AmqpClient {
 public:
  // Connects as guest; nullopt-like state (ok() false) when the broker is not there.
  explicit AmqpClient(int port) : conn_(amqp_new_connection()) {
    amqp_socket_t* socket = amqp_tcp_socket_new(conn_);
    timeval tv{5, 0};
    amqp_set_rpc_timeout(conn_, &tv);
    amqp_set_handshake_timeout(conn_, &tv);
    if (socket == nullptr || amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv) != AMQP_STATUS_OK) {
      return;
    }
    if (amqp_login(conn_, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type !=
        AMQP_RESPONSE_NORMAL) {
      return;
    }
    amqp_channel_open(conn_, 1);
    ok_ = amqp_get_rpc_reply(conn_).reply_type == AMQP_RESPONSE_NORMAL;
    logged_in_ = true;
  }
  ~AmqpClient() {
    if (logged_in_ && ok_) {
      (void)amqp_channel_close(conn_, 1, AMQP_REPLY_SUCCESS);
    }
    if (logged_in_) {
      (void)amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(conn_);
  }
  AmqpClient(const AmqpClient&) = delete;
  AmqpClient& operator=(const AmqpClient&) = delete;

  bool ok() const { return ok_; }

  // A durable topic exchange; with `queue`, a durable queue bound to it with `binding_key`.
  bool Declare(const std::string& exchange, const std::string& queue = "",
               const std::string& binding_key = "#") {
    amqp_exchange_declare(conn_, 1, amqp_cstring_bytes(exchange.c_str()), amqp_cstring_bytes("topic"), 0,
                          /*durable=*/1, 0, 0, amqp_empty_table);
    if (amqp_get_rpc_reply(conn_).reply_type != AMQP_RESPONSE_NORMAL) {
      return false;
    }
    if (queue.empty()) {
      return true;
    }
    amqp_queue_declare(conn_, 1, amqp_cstring_bytes(queue.c_str()), 0, /*durable=*/1, 0, 0, amqp_empty_table);
    if (amqp_get_rpc_reply(conn_).reply_type != AMQP_RESPONSE_NORMAL) {
      return false;
    }
    amqp_queue_bind(conn_, 1, amqp_cstring_bytes(queue.c_str()), amqp_cstring_bytes(exchange.c_str()),
                    amqp_cstring_bytes(binding_key.c_str()), amqp_empty_table);
    return amqp_get_rpc_reply(conn_).reply_type == AMQP_RESPONSE_NORMAL;
  }

  // Takes (basic.get, then ack) every message the queue holds now, appending them to `out`.
  void Drain(const std::string& queue, std::vector<Seen>& out) {
    while (ok_) {
      amqp_basic_get(conn_, 1, amqp_cstring_bytes(queue.c_str()), /*no_ack=*/0);
      amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
      if (reply.reply_type != AMQP_RESPONSE_NORMAL || reply.reply.id != AMQP_BASIC_GET_OK_METHOD) {
        ok_ = reply.reply_type == AMQP_RESPONSE_NORMAL;
        return;  // empty (get-empty), or the connection is gone
      }
      const auto* get = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
      const std::uint64_t tag = get->delivery_tag;
      Seen seen;
      seen.routing_key = Text(get->routing_key);
      amqp_message_t message{};
      if (amqp_read_message(conn_, 1, &message, 0).reply_type != AMQP_RESPONSE_NORMAL) {
        ok_ = false;
        return;
      }
      const auto& props = message.properties;
      if ((props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
        seen.message_id = Text(props.message_id);
      }
      if ((props._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) != 0) {
        seen.content_type = Text(props.content_type);
      }
      if ((props._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
        for (int i = 0; i < props.headers.num_entries; ++i) {
          const auto& e = props.headers.entries[i];
          if (e.value.kind == AMQP_FIELD_KIND_UTF8 && Text(e.key) == "topic") {
            seen.topic = Text(e.value.value.bytes);
          }
        }
      }
      seen.payload = json::parse(Text(message.body), nullptr, false);
      seen.device_name = seen.payload.is_object() ? seen.payload.value("deviceName", "") : "";
      amqp_destroy_message(&message);
      amqp_basic_ack(conn_, 1, tag, 0);
      out.push_back(std::move(seen));
      amqp_maybe_release_buffers(conn_);
    }
  }

 private:
  static std::string Text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

  amqp_connection_state_t conn_;
  bool ok_ = false;
  bool logged_in_ = false;
};

}  // namespace

TEST_CASE(
    "Forwarding to AMQP: every acknowledged post reaches the RabbitMQ queue once at least and per device "
    "in order while RabbitMQ is killed and restarted and the gateway is killed -9",
    "[integration][forwarding][amqp]") {
  Stack stack;
  Posters posters(stack, {"dev01", "dev02"});
  iot::testing::RabbitMqProcess rabbit;
  INFO(rabbit.LogTail());
  {
    AmqpClient admin(rabbit.Port());
    REQUIRE(admin.ok());
    // Only the property posts of kPk's devices: the routing key is the topic with dots.
    REQUIRE(admin.Declare(kExchange, "app-telemetry", std::string(kPk) + ".*.thing.event.property.post"));
  }
  const std::int64_t rule =
      AddRule(stack, {{"type", "amqp"}, {"url", rabbit.Url()}, {"exchange", kExchange}});
  // Retried without a limit: RabbitMQ's restarts take longer than 10 fast attempts (the default limit,
  // after which messages would go to the dead letters).
  auto env = kFastRetry;
  env["IOT_FORWARD_MAX_ATTEMPTS"] = "0";
  auto gateway = std::make_unique<GatewayProcess>(stack, "gw-fwd-amqp", env);
  REQUIRE(gateway->WaitConnected());
  posters.Connect();
  posters.Round(20);
  // RabbitMQ crashes: publishes and confirms fail, the forwarder retries; posts are still acknowledged.
  rabbit.Kill();
  posters.Round(20);
  rabbit.Start();
  posters.Round(10);
  // The gateway (and its forwarder) dies without a word; a new one takes the rule over after the lease.
  gateway->Process().Kill();
  gateway = std::make_unique<GatewayProcess>(stack, "gw-fwd-amqp", env);
  REQUIRE(gateway->WaitConnected());
  posters.Round(10);
  // And RabbitMQ crashes once more while the new forwarder works.
  rabbit.Kill();
  posters.Round(10);
  rabbit.Start();
  posters.Round(10);
  INFO(gateway->LogTail());

  std::vector<Seen> seen;
  const bool all = iot::testing::PollUntil(
      [&] {
        AmqpClient consumer(rabbit.Port());
        consumer.Drain("app-telemetry", seen);
        return HasAll(seen, posters.Acknowledged());
      },
      120s, 500ms);
  posters.CheckDelivered(seen, 75);
  CHECK(all);
  // The body is the server-side subscription's property post; the topic and messageId ride along.
  REQUIRE_FALSE(seen.empty());
  const auto& first = seen.front();
  CHECK(first.topic == std::string("/") + kPk + "/" + first.device_name + "/thing/event/property/post");
  CHECK(first.routing_key == std::string(kPk) + "." + first.device_name + ".thing.event.property.post");
  CHECK(first.content_type == "application/json");
  CHECK_FALSE(first.message_id.empty());
  CHECK(first.payload["productKey"] == kPk);
  CHECK(first.payload["iotId"].is_string());
  CHECK(first.payload["items"]["TargetTemp"]["value"] == 20);
  CHECK(first.payload["requestId"].is_string());
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto status = iot::store::GetForwardStatus(stack.Db(), rule);
        return status && status->lag_messages == 0;
      },
      30s, 200ms));
  auto status = iot::store::GetForwardStatus(stack.Db(), rule);
  REQUIRE(status.has_value());
  CHECK(status->delivered >= 150);
  CHECK(status->failed >= 1);  // while RabbitMQ was away
  CHECK(status->dead == 0);
}

TEST_CASE(
    "Forwarding to AMQP: a message no queue takes is retried then dead-lettered - replayed once a queue "
    "is bound",
    "[integration][forwarding][amqp]") {
  Stack stack;
  stack.AddDevice("dev01");
  iot::testing::RabbitMqProcess rabbit;
  INFO(rabbit.LogTail());
  {
    AmqpClient admin(rabbit.Port());
    REQUIRE(admin.ok());
    REQUIRE(admin.Declare(kExchange));  // no queue bound yet
  }
  const std::int64_t rule =
      AddRule(stack, {{"type", "amqp"}, {"url", rabbit.Url()}, {"exchange", kExchange}});
  auto env = kFastRetry;
  env["IOT_FORWARD_MAX_ATTEMPTS"] = "3";
  GatewayProcess gateway(stack, "gw-fwd-amqp-dead", env);
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto device = stack.Connect("dev01");
  REQUIRE(PostCount(*device, "dev01", 1));
  REQUIRE(PostCount(*device, "dev01", 2));
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto l = iot::store::ListDeadLetters(stack.Db(), rule, {});
        return l && l->items.size() == 2;
      },
      30s, 100ms));
  auto letters = iot::store::ListDeadLetters(stack.Db(), rule, {});
  REQUIRE(letters.has_value());
  CHECK(letters->items[0].error.find("unroutable") != std::string::npos);
  {
    AmqpClient admin(rabbit.Port());
    REQUIRE(admin.Declare(kExchange, "late-queue", "#"));
  }
  auto replayed = iot::store::ReplayDeadLetters(stack.Db(), rule, std::nullopt);
  REQUIRE(replayed.has_value());
  CHECK(*replayed == 2);
  std::vector<Seen> seen;
  CHECK(iot::testing::PollUntil(
      [&] {
        AmqpClient consumer(rabbit.Port());
        consumer.Drain("late-queue", seen);
        return CountsOf(seen, "dev01").size() >= 2;
      },
      30s, 200ms));
  CHECK(CountsOf(seen, "dev01") == std::vector<int>{1, 2});
  CHECK(iot::store::ListDeadLetters(stack.Db(), rule, {})->items.empty());
}

TEST_CASE(
    "Forwarding to AMQP: an AMQP 1.0 consumer (RabbitMQ's plugin) reads the same messages with topic and "
    "messageId as application properties",
    "[integration][forwarding][amqp]") {
  Stack stack;
  stack.AddDevice("dev01");
  iot::testing::RabbitMqProcess rabbit({"rabbitmq_amqp1_0"});
  {
    AmqpClient admin(rabbit.Port());
    REQUIRE(admin.ok());
    REQUIRE(admin.Declare(kExchange, "app-amqp10", "#"));
  }
  AddRule(stack, {{"type", "amqp"}, {"url", rabbit.Url()}, {"exchange", kExchange}});
  GatewayProcess gateway(stack, "gw-fwd-amqp10", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto device = stack.Connect("dev01");
  for (int n = 1; n <= 3; ++n) {
    REQUIRE(PostCount(*device, "dev01", n));
  }
  // RabbitMQ's own Erlang AMQP 1.0 client, from the rabbitmq-server package.
  const std::string out = iot::testing::MakeTempDir("amqp10") + "/read.txt";
  const std::string command =
      "ERL_LIBS=$(ls -d /usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins | head -1) "
      "timeout 120 escript " IOT_AMQP10_READER " " +
      std::to_string(rabbit.Port()) + " app-amqp10 3 >" + out + " 2>&1";
  const int rc = iot::testing::RunShell(command);
  std::ifstream in(out);
  std::vector<std::vector<std::string>> lines;
  std::string text, line;
  while (std::getline(in, line)) {
    text += line + "\n";
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (std::size_t tab = line.find('\t'); tab != std::string::npos; tab = line.find('\t', start)) {
      fields.push_back(line.substr(start, tab - start));
      start = tab + 1;
    }
    fields.push_back(line.substr(start));
    lines.push_back(std::move(fields));
  }
  INFO(text);
  REQUIRE(rc == 0);
  REQUIRE(lines.size() == 3);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto& f = lines[i];
    REQUIRE(f.size() == 6);
    const std::string topic = std::string("/") + kPk + "/dev01/thing/event/property/post";
    CHECK(f[0] == topic);                                                  // application property topic
    CHECK_FALSE(f[1].empty());                                             // application property messageId
    CHECK(f[1] == f[4]);                                                   // = the message-id property
    CHECK(std::stoll(f[2]) > 0);                                           // generateTime (epoch ms)
    CHECK(f[3] == std::string(kPk) + ".dev01.thing.event.property.post");  // subject: the routing key
    json body = json::parse(f[5], nullptr, false);
    REQUIRE(body.is_object());
    CHECK(body["items"]["RunCount"]["value"] == static_cast<int>(i) + 1);
    CHECK(body["deviceName"] == "dev01");
  }
}

TEST_CASE(
    "Forwarding to MQTT: every acknowledged post is republished at QoS 1 to the target topic in per-device "
    "order while the gateway is killed -9",
    "[integration][forwarding][mqtt]") {
  Stack stack;
  Posters posters(stack, {"dev01", "dev02"});
  // The platform's own broker, as its API account (allowed to publish custom topics); the application
  // reads the topic as another client.
  const std::string target = "/a1AppSink001/sink01/user/forwarded";
  const std::string url = "mqtt://127.0.0.1:" + std::to_string(stack.Broker().Port());
  const std::int64_t rule = AddRule(stack, {{"type", "mqtt"},
                                            {"url", url},
                                            {"topic", target},
                                            {"username", iot::testing::kApiUser},
                                            {"password", iot::testing::kApiSecret}});
  iot::testing::MqttTestClient application;
  REQUIRE(application.Connect(stack.Broker().Uri(), "app-reader", iot::testing::kGatewayUser,
                              iot::testing::kGatewaySecret) == 0);
  REQUIRE(application.Subscribe(target, 1) == 1);
  auto gateway = std::make_unique<GatewayProcess>(stack, "gw-fwd-mqtt", kFastRetry);
  REQUIRE(gateway->WaitConnected());
  posters.Connect();
  posters.Round(20);
  gateway->Process().Kill();
  gateway = std::make_unique<GatewayProcess>(stack, "gw-fwd-mqtt", kFastRetry);
  REQUIRE(gateway->WaitConnected());
  posters.Round(20);
  INFO(gateway->LogTail());
  std::vector<Seen> seen;
  const bool all = iot::testing::PollUntil(
      [&] {
        while (auto m = application.WaitMessage(target, 100ms)) {
          json envelope = json::parse(m->payload, nullptr, false);
          if (!envelope.is_object()) {
            continue;
          }
          CHECK(m->qos == 1);
          seen.push_back(Seen{envelope.value("messageId", ""), envelope.value("deviceName", ""),
                              envelope.value("topic", ""), "", "",
                              envelope.value("payload", json::object())});
        }
        return HasAll(seen, posters.Acknowledged());
      },
      60s, 100ms);
  CHECK(all);
  posters.CheckDelivered(seen, 35);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.front().topic ==
        std::string("/") + kPk + "/" + seen.front().device_name + "/thing/event/property/post");
  CHECK(seen.front().payload["items"]["TargetTemp"]["value"] == 20);
  auto status = iot::store::GetForwardStatus(stack.Db(), rule);
  REQUIRE(status.has_value());
  CHECK(status->delivered >= 80);
  CHECK(status->dead == 0);
}

TEST_CASE("Forwarding to MQTT: a publish the broker refuses is retried then dead-lettered",
          "[integration][forwarding][mqtt]") {
  Stack stack;
  stack.AddDevice("dev01");
  // The API account may not publish there: the PUBACK carries "not authorized".
  const std::int64_t rule =
      AddRule(stack, {{"type", "mqtt"},
                      {"url", "mqtt://127.0.0.1:" + std::to_string(stack.Broker().Port())},
                      {"topic", "app/not/allowed"},
                      {"username", iot::testing::kApiUser},
                      {"password", iot::testing::kApiSecret}});
  auto env = kFastRetry;
  env["IOT_FORWARD_MAX_ATTEMPTS"] = "2";
  GatewayProcess gateway(stack, "gw-fwd-mqtt-dead", env);
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto device = stack.Connect("dev01");
  REQUIRE(PostCount(*device, "dev01", 1));
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto l = iot::store::ListDeadLetters(stack.Db(), rule, {});
        return l && l->items.size() == 1;
      },
      30s, 100ms));
  auto letters = iot::store::ListDeadLetters(stack.Db(), rule, {});
  INFO(letters->items[0].error);
  CHECK(letters->items[0].error.rfind("MQTT", 0) == 0);
}

TEST_CASE(
    "Forwarding to MQTT over TLS: a broker with a private CA is reached with the rule's ca - without it the "
    "server's certificate is refused",
    "[integration][forwarding][mqtt]") {
  Stack stack(iot::store::ValidationMode::kWeak, /*private_pg=*/false, /*websockets=*/true);  // + TLS
  stack.AddDevice("dev01");
  std::ifstream ca_file(stack.Broker().CaFile());
  const std::string ca((std::istreambuf_iterator<char>(ca_file)), std::istreambuf_iterator<char>());
  REQUIRE(ca.find("-----BEGIN CERTIFICATE-----") != std::string::npos);
  const std::string url = "mqtts://127.0.0.1:" + std::to_string(stack.Broker().TlsPort());
  const std::string target = "/a1AppSink001/sink01/user/tls";
  json destination = {{"type", "mqtt"},
                      {"url", url},
                      {"topic", target},
                      {"username", iot::testing::kApiUser},
                      {"password", iot::testing::kApiSecret}};
  json trusted = destination;
  trusted["ca"] = ca;
  const std::int64_t with_ca = AddRule(stack, trusted);
  const std::int64_t system_cas = AddRule(stack, destination);
  iot::testing::MqttTestClient application;
  REQUIRE(application.Connect(stack.Broker().Uri(), "app-reader", iot::testing::kGatewayUser,
                              iot::testing::kGatewaySecret) == 0);
  REQUIRE(application.Subscribe(target, 1) == 1);
  GatewayProcess gateway(stack, "gw-fwd-mqtts", kFastRetry);
  REQUIRE(gateway.WaitConnected());
  INFO(gateway.LogTail());
  auto device = stack.Connect("dev01");
  REQUIRE(PostCount(*device, "dev01", 7));
  auto m = application.WaitMessage(target, 20s);
  REQUIRE(m.has_value());
  const json envelope = json::parse(m->payload);
  CHECK(envelope["deviceName"] == "dev01");
  CHECK(envelope["payload"]["items"]["RunCount"]["value"] == 7);
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto s = iot::store::GetForwardStatus(stack.Db(), system_cas);
        return s && s->failed >= 1;
      },
      20s, 100ms));
  auto refused = iot::store::GetForwardStatus(stack.Db(), system_cas);
  REQUIRE(refused.has_value());
  INFO(refused->last_error);
  CHECK(refused->delivered == 0);
  CHECK(refused->last_error.rfind("MQTT", 0) == 0);
  auto delivered = iot::store::GetForwardStatus(stack.Db(), with_ca);
  REQUIRE(delivered.has_value());
  CHECK(delivered->delivered == 1);
  CHECK(delivered->failed == 0);
}

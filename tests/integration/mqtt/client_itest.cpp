// The services' lean MQTT 5 client (libs/mqtt_client) against a real Mosquitto with the project's
// plugin, as the gateway service account. Its peer is Paho C++ (an independent implementation) on the
// same account: what one sends, the other must receive byte for byte, with MQTT 5 properties.

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <mqtt/async_client.h>

#include "iot/mqtt/client.hpp"
#include "iot/store/migrator.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/pg_database.hpp"

namespace {

using namespace std::chrono_literals;

constexpr const char* kPost = "/sys/pkMqtt/dev1/thing/event/property/post";
constexpr const char* kReply = "/sys/pkMqtt/dev1/thing/event/property/post_reply";
constexpr const char* kCustom = "/pkMqtt/dev1/user/update";

struct Broker {
  iot::testing::PgDatabase database;
  std::unique_ptr<iot::testing::MosquittoProcess> mosquitto;

  Broker() {
    REQUIRE(iot::store::Migrator(database.Dsn()).Migrate());
    mosquitto =
        std::make_unique<iot::testing::MosquittoProcess>(iot::testing::MosquittoOptions{database.Dsn()});
  }

  iot::mqtt::ClientOptions Options(const std::string& client_id) const {
    iot::mqtt::ClientOptions o;
    o.port = mosquitto->Port();
    o.client_id = client_id;
    o.username = iot::testing::kGatewayUser;
    o.password = iot::testing::kGatewaySecret;
    o.keepalive_s = 5;
    return o;
  }
};

// What the client under test received, copied out of the handler.
struct Received {
  std::string topic;
  std::string payload;
  int qos = 0;
  std::vector<std::uint32_t> subscription_ids;
  std::map<std::string, std::string> user_properties;
};

struct Inbox {
  std::mutex mutex;
  std::vector<Received> messages;

  void Attach(iot::mqtt::Client& client) {
    client.SetMessageHandler([this](const iot::mqtt::PublishView& m) {
      Received r{std::string(m.topic), std::string(m.payload), m.qos, {}, {}};
      std::string_view props = m.properties;
      iot::mqtt::PropertyValue p;
      while (iot::mqtt::NextProperty(props, p)) {
        if (p.id == static_cast<std::uint8_t>(iot::mqtt::Property::kSubscriptionIdentifier)) {
          r.subscription_ids.push_back(p.number);
        } else if (p.id == static_cast<std::uint8_t>(iot::mqtt::Property::kUserProperty)) {
          r.user_properties[std::string(p.text)] = std::string(p.value);
        }
      }
      std::lock_guard lock(mutex);
      messages.push_back(std::move(r));
    });
  }
  std::size_t Count() {
    std::lock_guard lock(mutex);
    return messages.size();
  }
  bool WaitFor(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    return iot::testing::PollUntil([&] { return Count() >= n; }, timeout, 10ms);
  }
};

// Connections the client under test lost, and the last cause it gave.
struct LostWatch {
  std::mutex mutex;
  int count = 0;
  std::string cause;

  void Attach(iot::mqtt::Client& client) {
    client.SetLostHandler([this](const std::string& c) {
      std::lock_guard lock(mutex);
      cause = c;
      ++count;
    });
  }
  int Count() {
    std::lock_guard lock(mutex);
    return count;
  }
  std::string LastCause() {
    std::lock_guard lock(mutex);
    return cause;
  }
};

// The independent peer: Paho C++ over MQTT 5, messages collected in order.
struct Peer {
  mqtt::async_client client;
  std::mutex mutex;
  std::vector<mqtt::const_message_ptr> messages;

  // As the gateway service account unless `api` (iot-api's account may publish on custom topics).
  Peer(const Broker& broker, const std::string& client_id, bool api = false)
      : client(broker.mosquitto->Uri(), client_id,
               mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize(), nullptr) {
    client.set_message_callback([this](mqtt::const_message_ptr m) {
      std::lock_guard lock(mutex);
      messages.push_back(std::move(m));
    });
    auto options = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_5)
                       .clean_start(true)
                       .user_name(api ? iot::testing::kApiUser : iot::testing::kGatewayUser)
                       .password(api ? iot::testing::kApiSecret : iot::testing::kGatewaySecret)
                       .finalize();
    REQUIRE(client.connect(options)->wait_for(5s));
  }
  ~Peer() {
    try {
      client.disconnect()->wait_for(2s);
    } catch (const mqtt::exception&) {
    }
  }
  void Publish(const std::string& topic, const std::string& payload, int qos,
               const mqtt::properties& props = {}) {
    auto msg = mqtt::message::create(topic, payload.data(), payload.size(), qos, false, props);
    REQUIRE(client.publish(msg)->wait_for(5s));
  }
  std::size_t Count() {
    std::lock_guard lock(mutex);
    return messages.size();
  }
};

}  // namespace

TEST_CASE("MQTT client: QoS 0 and 1 in both directions with subscription identifiers and user properties",
          "[integration][mqtt]") {
  Broker broker;
  iot::mqtt::Client client(broker.Options("mqtt-itest-a"));
  Inbox inbox;
  inbox.Attach(client);
  const iot::mqtt::ConnectResult connected = client.Connect(5s);
  REQUIRE(connected.ok);
  CHECK(connected.reason == 0);
  CHECK(client.Connected());
  CHECK(client.Subscribe("/sys/+/+/thing/event/+/post", 1, 1, 5s) == 1);
  CHECK(client.Subscribe("/+/+/user/#", 1, 2, 5s) == 1);
  CHECK(client.Subscribe("/sys/+/+/thing/event/property/#", 0, 0, 5s) == 0);  // overlaps the first, QoS 0
  // Refused by the plugin's ACL: the reason comes back, the connection stays.
  CHECK(client.Subscribe("/not/allowed/#", 1, 3, 5s) >= 0x80);
  CHECK(client.Connected());

  Peer peer(broker, "mqtt-itest-peer");
  REQUIRE(peer.client.subscribe("/sys/+/+/thing/event/property/post_reply", 1)->wait_for(5s));

  // Payloads of every awkward size: empty, binary with NUL, one byte short of 128 (length prefix grows),
  // 200 KB (below the broker's 256 KiB packet limit).
  std::vector<std::string> payloads = {"", std::string("a\0b\xff", 4), std::string(127, 'x'),
                                       std::string(16384, 'y'), std::string(200 * 1024, 'z')};
  for (int i = 0; i < 300; ++i) {
    payloads.push_back("{\"id\":\"" + std::to_string(i) + "\",\"params\":{\"t\":" + std::to_string(i) + "}}");
  }
  mqtt::properties origin{mqtt::property(mqtt::property::USER_PROPERTY, "origin", "iot-api")};
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    peer.Publish(kPost, payloads[i], static_cast<int>(i % 2), i == 0 ? origin : mqtt::properties{});
  }
  Peer api(broker, "mqtt-itest-api", true);
  api.Publish(kCustom, "custom", 1);
  // Each post matches two subscriptions (ids 1 and none): Mosquitto sends one copy per subscription.
  REQUIRE(inbox.WaitFor(2 * payloads.size() + 1));
  std::map<std::string, std::vector<const Received*>> by_payload;
  {
    std::lock_guard lock(inbox.mutex);
    for (const Received& r : inbox.messages) {
      by_payload[r.payload].push_back(&r);
    }
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      INFO("payload " << i << " of " << payloads[i].size() << " bytes");
      REQUIRE(by_payload[payloads[i]].size() == 2);
      bool with_id = false;
      for (const Received* r : by_payload[payloads[i]]) {
        CHECK(r->topic == kPost);
        if (!r->subscription_ids.empty()) {
          CHECK(r->subscription_ids == std::vector<std::uint32_t>{1});
          CHECK(r->qos == static_cast<int>(i % 2));
          with_id = true;
        }
        CHECK(r->user_properties.count("origin") == (i == 0 ? 1U : 0U));
      }
      CHECK(with_id);
    }
    REQUIRE(by_payload["custom"].size() == 1);
    CHECK(by_payload["custom"][0]->subscription_ids == std::vector<std::uint32_t>{2});
    CHECK(by_payload["custom"][0]->topic == kCustom);
  }

  // Replies from several threads at once, both QoS: all arrive; each thread's replies of one QoS in order.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&client, t] {
      for (int i = 0; i < kPerThread; ++i) {
        REQUIRE(client.Publish(kReply, std::to_string(t) + ":" + std::to_string(i), i % 2));
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  REQUIRE(iot::testing::PollUntil([&] { return peer.Count() >= kThreads * kPerThread; }, 20s, 10ms));
  std::lock_guard lock(peer.mutex);
  CHECK(peer.messages.size() == static_cast<std::size_t>(kThreads * kPerThread));
  std::map<std::pair<int, int>, int> next;  // (thread, QoS) -> the next number expected
  for (int t = 0; t < kThreads; ++t) {
    next[{t, 0}] = 0;
    next[{t, 1}] = 1;
  }
  for (const auto& m : peer.messages) {
    const std::string text = m->get_payload_str();
    const int t = std::stoi(text.substr(0, text.find(':')));
    const int i = std::stoi(text.substr(text.find(':') + 1));
    int& expected = next[{t, i % 2}];
    CHECK(i == expected);
    expected = i + 2;
    CHECK(m->get_topic() == kReply);
  }
}

TEST_CASE(
    "MQTT client: a persistent session keeps what was published while it was away - Session Expiry 0 "
    "ends it",
    "[integration][mqtt]") {
  Broker broker;
  auto options = broker.Options("mqtt-itest-session");
  options.clean_start = false;
  options.session_expiry_s = 300;
  iot::mqtt::Client client(options);
  Inbox inbox;
  inbox.Attach(client);
  REQUIRE(client.Connect(5s).ok);
  REQUIRE(client.Subscribe("$share/g1//sys/+/+/thing/event/+/post", 1, 1, 5s) == 1);
  client.Disconnect(false, 5s);
  CHECK_FALSE(client.Connected());

  Peer peer(broker, "mqtt-itest-peer2");
  for (int i = 0; i < 50; ++i) {
    peer.Publish(kPost, "away " + std::to_string(i), 1);
  }
  const iot::mqtt::ConnectResult again = client.Connect(5s);
  REQUIRE(again.ok);
  CHECK(again.session_present);
  REQUIRE(inbox.WaitFor(50));
  {
    std::lock_guard lock(inbox.mutex);
    for (int i = 0; i < 50; ++i) {
      CHECK(inbox.messages[static_cast<std::size_t>(i)].payload == "away " + std::to_string(i));
    }
  }

  client.Disconnect(true, 5s);  // Session Expiry 0: the broker forgets the session and its subscriptions
  peer.Publish(kPost, "after the end", 1);
  const iot::mqtt::ConnectResult fresh = client.Connect(5s);
  REQUIRE(fresh.ok);
  CHECK_FALSE(fresh.session_present);
  std::this_thread::sleep_for(300ms);
  CHECK(inbox.Count() == 50);
}

TEST_CASE("MQTT client: a broker restart is reported - publishes held meanwhile go out after reconnecting",
          "[integration][mqtt]") {
  Broker broker;
  auto options = broker.Options("mqtt-itest-restart");
  options.max_buffered = 20;
  iot::mqtt::Client client(options);
  LostWatch lost;
  lost.Attach(client);
  REQUIRE(client.Connect(5s).ok);

  broker.mosquitto->Stop();
  REQUIRE(iot::testing::PollUntil([&] { return lost.Count() == 1; }, 10s, 10ms));
  CHECK_FALSE(client.Connected());
  CHECK_FALSE(lost.LastCause().empty());
  // Nothing listens: Connect fails with a reason instead of hanging.
  const iot::mqtt::ConnectResult refused = client.Connect(5s);
  CHECK_FALSE(refused.ok);
  CHECK_FALSE(refused.error.empty());
  CHECK(client.Subscribe("/sys/+/+/thing/event/+/post", 1, 1, 1s) == -1);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(client.Publish(kReply, "held " + std::to_string(i), i % 2));
  }
  CHECK_FALSE(client.Publish(kReply, "one too many", 0));  // max_buffered

  broker.mosquitto->Start();
  Peer peer(broker, "mqtt-itest-peer3");
  REQUIRE(peer.client.subscribe(kReply, 1)->wait_for(5s));
  REQUIRE(iot::testing::PollUntil([&] { return client.Connect(2s).ok; }, 10s, 100ms));
  REQUIRE(iot::testing::PollUntil([&] { return peer.Count() >= 20; }, 10s, 10ms));
  std::this_thread::sleep_for(200ms);
  std::lock_guard lock(peer.mutex);
  CHECK(peer.messages.size() == 20);  // QoS 1 ones not duplicated: the broker acknowledged them
  std::set<std::string> got;
  for (const auto& m : peer.messages) {
    got.insert(m->get_payload_str());
  }
  CHECK(got.size() == 20);
  CHECK(lost.Count() == 1);
}

TEST_CASE("MQTT client: unsubscribed filters deliver nothing more", "[integration][mqtt]") {
  Broker broker;
  iot::mqtt::Client client(broker.Options("mqtt-itest-unsub"));
  Inbox inbox;
  inbox.Attach(client);
  REQUIRE(client.Connect(5s).ok);
  REQUIRE(client.Subscribe("/sys/+/+/thing/event/+/post", 1, 1, 5s) == 1);
  Peer peer(broker, "mqtt-itest-peer4");
  peer.Publish(kPost, "before", 1);
  REQUIRE(inbox.WaitFor(1));
  CHECK(client.Unsubscribe("/sys/+/+/thing/event/+/post", 5s) == 0);
  CHECK(client.Unsubscribe("/sys/+/+/thing/never", 5s) == 0x11);  // No subscription existed
  peer.Publish(kPost, "after", 1);
  std::this_thread::sleep_for(300ms);
  CHECK(inbox.Count() == 1);
  client.Disconnect(false, 5s);
  CHECK_FALSE(client.Connected());
}

TEST_CASE(
    "MQTT client: a broker that goes silent is detected by keepalive - a session taken over and the broker's "
    "DISCONNECT with its reason are reported",
    "[integration][mqtt]") {
  Broker broker;
  auto options = broker.Options("mqtt-itest-keepalive");
  options.keepalive_s = 2;
  iot::mqtt::Client client(options);
  LostWatch lost;
  lost.Attach(client);
  REQUIRE(client.Connect(5s).ok);
  // Frozen, not gone: the TCP connection stays open, only PINGRESPs stop.
  const pid_t pid = broker.mosquitto->Process().Pid();
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  const bool detected = iot::testing::PollUntil([&] { return lost.Count() == 1; }, 10s, 20ms);
  REQUIRE(::kill(pid, SIGCONT) == 0);
  REQUIRE(detected);
  CHECK(lost.LastCause().find("keepalive") != std::string::npos);

  REQUIRE(iot::testing::PollUntil([&] { return client.Connect(2s).ok; }, 10s, 100ms));
  // Another connection with the same client id takes the session over: Mosquitto closes ours.
  mqtt::async_client thief(broker.mosquitto->Uri(), "mqtt-itest-keepalive",
                           mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize(), nullptr);
  REQUIRE(thief
              .connect(mqtt::connect_options_builder()
                           .mqtt_version(MQTTVERSION_5)
                           .user_name(iot::testing::kGatewayUser)
                           .password(iot::testing::kGatewaySecret)
                           .finalize())
              ->wait_for(5s));
  REQUIRE(iot::testing::PollUntil([&] { return lost.Count() == 2; }, 5s, 10ms));
  CHECK_FALSE(client.Connected());
  thief.disconnect()->wait_for(2s);

  // A packet above the broker's max_packet_size (256 KiB of payload): its DISCONNECT names the reason,
  // 0x95 Packet too large.
  REQUIRE(iot::testing::PollUntil([&] { return client.Connect(2s).ok; }, 10s, 100ms));
  REQUIRE(client.Publish(kReply, std::string(300 * 1024, 'x'), 0));
  REQUIRE(iot::testing::PollUntil([&] { return lost.Count() == 3; }, 5s, 10ms));
  INFO(lost.LastCause());
  CHECK(lost.LastCause().find("reason 149") != std::string::npos);
}

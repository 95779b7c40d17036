// The MQTT destination (Paho): one client per destination, connected on first use and again after any
// failure (MQTT 5, clean start, so that a refused publish comes back as a PUBACK reason code rather than
// being dropped in silence). A batch is published message by message at QoS 1 to the rule's topic, each
// message its envelope (topic, messageId, device, payload); it is delivered when every PUBACK has come.
// Runs only on the forwarder's thread; every wait is bounded by the timeout.

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <mqtt/async_client.h>
#include <openssl/rand.h>

#include "forwarder.hpp"

namespace iot::gateway {
namespace {

using Clock = std::chrono::steady_clock;

std::string RandomClientId() {
  unsigned char bytes[8] = {};
  (void)RAND_bytes(bytes, sizeof bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "iot-forward-";
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

class MqttDestination final : public Destination {
 public:
  MqttDestination(std::string uri, std::string topic, std::string username, std::string password,
                  const std::string& ca, std::chrono::milliseconds timeout)
      : uri_(std::move(uri)),
        topic_(std::move(topic)),
        username_(std::move(username)),
        password_(std::move(password)),
        ca_(ca),
        timeout_(timeout) {}
  ~MqttDestination() override { Drop(true); }
  MqttDestination(const MqttDestination&) = delete;
  MqttDestination& operator=(const MqttDestination&) = delete;

  Delivery Deliver(const std::vector<store::OutboxMessage>& batch) override {
    const auto deadline = Clock::now() + timeout_;
    try {
      if (!client_ || !client_->is_connected()) {
        Drop(false);
        Connect();
      }
      std::vector<mqtt::delivery_token_ptr> tokens;
      tokens.reserve(batch.size());
      for (const auto& m : batch) {
        std::string envelope;
        AppendEnvelope(envelope, m);
        tokens.push_back(client_->publish(mqtt::make_message(topic_, envelope, 1, false)));
      }
      for (const auto& token : tokens) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        // wait_for throws when the publish failed (a PUBACK reason code of 0x80 or more included).
        if (left.count() <= 0 || !token->wait_for(left)) {
          Drop(false);
          return Delivery{Delivery::Outcome::kRetry, "MQTT: no PUBACK within the timeout"};
        }
      }
      return {};
    } catch (const mqtt::exception& e) {
      Drop(false);
      return Delivery{Delivery::Outcome::kRetry, std::string("MQTT: ") + e.what()};
    } catch (const std::exception& e) {
      Drop(false);
      return Delivery{Delivery::Outcome::kRetry, std::string("MQTT: ") + e.what()};
    }
  }

 private:
  void Connect() {
    auto create = mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize();
    client_ = std::make_unique<mqtt::async_client>(uri_, RandomClientId(), create, nullptr);
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout_);
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_5)
                       .clean_start(true)
                       .keep_alive_interval(std::chrono::seconds(30))
                       .connect_timeout(std::max(seconds, std::chrono::seconds(1)))
                       .automatic_reconnect(false)
                       .max_inflight(1000);
    if (!username_.empty()) {
      builder.user_name(username_);
    }
    if (!password_.empty()) {
      builder.password(password_);
    }
    if (uri_.rfind("ssl://", 0) == 0) {
      // The destination's CA, else the system's trust store; the server's name checked.
      auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true).verify(true);
      if (!ca_.Path().empty()) {
        ssl.trust_store(ca_.Path());
      }
      builder.ssl(ssl.finalize());
    }
    auto token = client_->connect(builder.finalize());
    if (!token->wait_for(timeout_ + std::chrono::seconds(1))) {
      throw std::runtime_error("connect to " + uri_ + " timed out");
    }
  }

  void Drop(bool orderly) {
    if (!client_) {
      return;
    }
    try {
      if (client_->is_connected()) {
        auto token = client_->disconnect(orderly ? 1000 : 0);
        (void)token->wait_for(std::chrono::seconds(orderly ? 2 : 1));
      }
    } catch (const std::exception&) {
      // gone already
    }
    client_.reset();
  }

  std::string uri_;
  std::string topic_;
  std::string username_;
  std::string password_;
  PemFile ca_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace

std::unique_ptr<Destination> MakeMqttDestination(const std::string& uri, const std::string& topic,
                                                 const std::string& username, const std::string& password,
                                                 const std::string& ca, std::chrono::milliseconds timeout) {
  return std::make_unique<MqttDestination>(uri, topic, username, password, ca, timeout);
}

}  // namespace iot::gateway

#include "control/mqtt_link.hpp"

#include <algorithm>
#include <chrono>

#include <mqtt/async_client.h>

#include "iot/alink/custom_topic.hpp"
#include "iot/common/log.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.mqtt";
constexpr const char* kRrpcResponses = "/sys/+/+/rrpc/response/+";
constexpr const char* kRrpcReplies = "/iot/rrpc/reply/#";  // /ext/rrpc answers, re-routed by the broker
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::milliseconds(5000);

}  // namespace

MqttLink::MqttLink(MqttLinkSettings settings, MessageHandler on_message)
    : settings_(std::move(settings)), on_message_(std::move(on_message)) {
  auto create = mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).finalize();
  client_ = std::make_unique<mqtt::async_client>(settings_.uri, settings_.client_id, create, nullptr);
}

MqttLink::~MqttLink() { Stop(); }

void MqttLink::Start() {
  client_->set_message_callback(
      [this](mqtt::const_message_ptr msg) { on_message_(msg->get_topic(), msg->get_payload_str()); });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    connected_.store(false, std::memory_order_release);
    IOT_LOG_WARN(kLog, "msg=\"MQTT connection lost\" cause=" << log::Quote(cause));
  });
  client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
    connected_.store(false, std::memory_order_release);
    IOT_LOG_WARN(kLog, "msg=\"MQTT disconnected by the broker\" reason=" << static_cast<int>(reason));
  });
  // The supervisor: connects, and reconnects after a loss, with backoff.
  supervisor_ = std::thread([this] {
    auto backoff = kBackoffMin;
    while (!stopped_.load()) {
      if (!connected_.load(std::memory_order_acquire)) {
        try {
          auto options = mqtt::connect_options_builder()
                             .mqtt_version(MQTTVERSION_5)
                             .clean_start(true)
                             .keep_alive_interval(std::chrono::seconds(settings_.keepalive_s))
                             .connect_timeout(kConnectTimeout)
                             .automatic_reconnect(false);
          if (!settings_.username.empty()) {
            options.user_name(settings_.username);
          }
          if (!settings_.password.empty()) {
            options.password(settings_.password);
          }
          auto token = client_->connect(options.finalize());
          if (token->wait_for(kConnectTimeout + std::chrono::seconds(1)) && client_->is_connected()) {
            Subscribe();
            connected_.store(true, std::memory_order_release);
            backoff = kBackoffMin;
            IOT_LOG_INFO(
                kLog, "msg=\"MQTT connected\" uri=" << settings_.uri << " client_id=" << settings_.client_id);
          }
        } catch (const mqtt::exception& e) {
          IOT_LOG_LIMITED(
              noise_, log::Level::kWarn, kLog,
              "msg=\"MQTT connect failed\" uri=" << settings_.uri << " error=" << log::Quote(e.what()));
        }
        if (!connected_.load(std::memory_order_acquire)) {
          std::unique_lock lock(wait_mutex_);
          wait_cv_.wait_for(lock, backoff, [this] { return stopped_.load(); });
          backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kBackoffMax));
          continue;
        }
      }
      std::unique_lock lock(wait_mutex_);
      wait_cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopped_.load(); });
    }
  });
}

void MqttLink::Subscribe() {
  // RRPC answers of every device; the control service keeps the ones it is waiting for (and records
  // late ones). QoS 0 like Aliyun's RRPC.
  client_->subscribe(kRrpcResponses, 0)->wait_for(kConnectTimeout);
  client_->subscribe(kRrpcReplies, 0)->wait_for(kConnectTimeout);
}

void MqttLink::Stop() {
  if (stopped_.exchange(true)) {
    return;
  }
  wait_cv_.notify_all();
  if (supervisor_.joinable()) {
    supervisor_.join();
  }
  try {
    if (client_->is_connected()) {
      client_->disconnect(std::chrono::seconds(1))->wait_for(std::chrono::seconds(3));
    }
  } catch (const mqtt::exception& e) {
    IOT_LOG_WARN(kLog, "msg=\"MQTT disconnect failed\" error=" << log::Quote(e.what()));
  }
  connected_.store(false);
}

bool MqttLink::Publish(const std::string& topic, const std::string& payload, int qos) {
  if (!connected_.load(std::memory_order_acquire)) {
    return false;
  }
  try {
    // Marked as the platform's: the gateway reads custom topics too and stores only the devices' own.
    auto message = mqtt::make_message(topic, payload.data(), payload.size(), qos, false);
    message->set_properties(mqtt::properties{mqtt::property(
        mqtt::property::USER_PROPERTY, std::string(alink::kPlatformOrigin), std::string("iot-api"))});
    client_->publish(message);
    return true;
  } catch (const mqtt::exception& e) {
    IOT_LOG_LIMITED(
        noise_, log::Level::kWarn, kLog,
        "msg=\"MQTT publish refused\" topic=" << log::Quote(topic) << " error=" << log::Quote(e.what()));
    return false;
  }
}

}  // namespace iot::api

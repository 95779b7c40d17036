#include "mqtt_ingress.hpp"

#include <chrono>

#include <mqtt/async_client.h>

#include "iot/alink/custom_topic.hpp"
#include "iot/common/log.hpp"

namespace iot::gateway {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kSubscribeTimeout = std::chrono::seconds(10);
constexpr auto kBackoffMin = std::chrono::milliseconds(100);
constexpr auto kBackoffMax = std::chrono::milliseconds(5000);

log::RateLimiter& PublishNoise() {
  static log::RateLimiter limiter(std::chrono::seconds(5));
  return limiter;
}

// Subscription identifiers: which filter delivered a message (MQTT 5 sends one copy per matching
// subscription, each with its own identifier).
constexpr int kThingFiltersId = 1;
constexpr int kCustomTopicFilterId = 2;
constexpr const char* kCustomTopicFilter = "/+/+/user/#";

bool OnlyThroughCustomTopicFilter(const mqtt::message& msg) {
  const mqtt::properties& props = msg.get_properties();
  const std::size_t n = props.count(mqtt::property::SUBSCRIPTION_IDENTIFIER);
  bool custom = false;
  for (std::size_t i = 0; i < n; ++i) {
    const int id = mqtt::get<int>(props, mqtt::property::SUBSCRIPTION_IDENTIFIER, i);
    if (id != kCustomTopicFilterId) {
      return false;
    }
    custom = true;
  }
  return custom;
}

}  // namespace

bool IsPlatformPublish(const mqtt::message& msg) {
  const mqtt::properties& props = msg.get_properties();
  const std::size_t n = props.count(mqtt::property::USER_PROPERTY);
  for (std::size_t i = 0; i < n; ++i) {
    auto pair = mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, i);
    if (std::get<0>(pair) == alink::kPlatformOrigin) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> UplinkFilters() {
  return {
      "/sys/+/+/thing/event/+/post",                 // property post, event posts
      "/sys/+/+/thing/event/property/history/post",  // history
      "/sys/+/+/thing/event/property/batch/post",    // batch
      "/sys/+/+/thing/event/property/pack/post",     // gateways: pack post
      "/sys/+/+/thing/service/+",                    // {id}_reply from devices (+ API downlinks, ignored)
      "/sys/+/+/thing/service/property/set_reply",   // property set answers
      "/sys/+/+/thing/property/desired/get", "/sys/+/+/thing/property/desired/delete",
      "/sys/+/+/thing/dsltemplate/get", "/sys/+/+/thing/dynamicTsl/get", "/sys/+/+/thing/deviceinfo/update",
      "/sys/+/+/thing/deviceinfo/delete", "/sys/+/+/thing/config/get", "/sys/+/+/thing/ota/firmware/get",
      "/sys/+/+/thing/sub/register", "/sys/+/+/thing/sub/unregister", "/sys/+/+/thing/topo/add",
      "/sys/+/+/thing/topo/delete", "/sys/+/+/thing/topo/get", "/sys/+/+/thing/list/found",
      "/sys/+/+/thing/model/up_raw",
      "/sys/+/+/thing/model/down_raw_reply",  // raw products' answers to downlinks
      "/sys/+/+/thing/+",                     // unknown one-level thing topics
      "/sys/+/+/_thing/diag/post",
      "/sys/+/+/thing/log/post",                    // reply-less: counted
      "/sys/+/+/thing/service/property/get_reply",  // device replies: counted
      "/sys/+/+/thing/config/push_reply", "/sys/+/+/thing/topo/add/notify_reply", "/ext/ntp/+/+/request",
      // Sub-device sessions (/ext/session/+/+/combine/...) are answered by the broker plugin and
      // never reach the gateway service.
      "/shadow/update/+/+",      // device shadow
      "/ota/device/inform/+/+",  // OTA reports: counted
      "/ota/device/progress/+/+", "/ota/device/request/+/+", "/as/mqtt/status/+/+",
      kCustomTopicFilter,  // custom topics (stored; iot-api's downlinks on them are marked and skipped)
  };
}

MqttIngress::MqttIngress(MqttSettings settings, Metrics& metrics)
    : settings_(std::move(settings)), metrics_(metrics), flow_(settings_.high_water, settings_.low_water) {
  auto create = mqtt::create_options_builder()
                    .mqtt_version(MQTTVERSION_5)
                    .send_while_disconnected(true, true)  // replies during a pause go out on resume
                    .max_buffered_messages(200000)
                    .delete_oldest_messages(false)
                    .finalize();
  client_ = std::make_unique<mqtt::async_client>(settings_.uri, settings_.client_id, create, nullptr);
}

MqttIngress::~MqttIngress() { Stop(); }

void MqttIngress::Wake() {
  {
    std::lock_guard lock(mutex_);
    wake_flag_ = true;
  }
  wake_.notify_one();
}

void MqttIngress::Start(Pipeline& pipeline) {
  pipeline_ = &pipeline;
  // Runs on Paho's thread: copy, enqueue, maybe wake the supervisor. Never blocks, never drops.
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    if (BrokerStats::Wants(msg->get_topic())) {  // the broker's figures, for /metrics only
      metrics_.broker.Update(msg->get_topic(), msg->get_payload_str(), static_cast<double>(NowMs()) / 1000.0);
      return;
    }
    InboundMessage in;
    in.topic = msg->get_topic();
    in.payload = msg->get_payload_str();
    in.received_ms = NowMs();
    in.from_platform = IsPlatformPublish(*msg);
    in.custom_topic_filter_only = OnlyThroughCustomTopicFilter(*msg);
    const std::size_t held = pipeline_->Submit(std::move(in));
    if (held > settings_.high_water) {
      metrics_.overflow.fetch_add(1, std::memory_order_relaxed);
    }
    if (held >= settings_.high_water) {
      Wake();
    }
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    connected_ = false;
    metrics_.mqtt_connection_lost.fetch_add(1, std::memory_order_relaxed);
    IOT_LOG_WARN("gateway", "msg=\"MQTT connection lost\" cause=" << log::Quote(cause));
    Wake();
  });
  client_->set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode reason) {
    connected_ = false;
    IOT_LOG_WARN("gateway", "msg=\"MQTT disconnected by the broker\" reason=" << static_cast<int>(reason));
    Wake();
  });
  supervisor_ = std::thread([this] { SupervisorLoop(); });
}

void MqttIngress::StopSupervisor() {
  stopping_ = true;
  Wake();
  if (supervisor_.joinable()) {
    supervisor_.join();
  }
}

std::string MqttIngress::FullFilter(const std::string& filter) const {
  return settings_.share_group.empty() ? filter : "$share/" + settings_.share_group + "/" + filter;
}

void MqttIngress::Unsubscribe() {
  try {
    if (!client_->is_connected()) {
      return;
    }
    for (const std::string& filter : UplinkFilters()) {
      if (!client_->unsubscribe(FullFilter(filter))->wait_for(kSubscribeTimeout)) {
        IOT_LOG_WARN("gateway",
                     "msg=\"MQTT unsubscribe timed out\" filter=" << log::Quote(FullFilter(filter)));
      }
    }
    IOT_LOG_INFO("gateway", "msg=\"unsubscribed: draining what is held\"");
  } catch (const mqtt::exception& e) {
    IOT_LOG_WARN("gateway", "msg=\"MQTT unsubscribe failed\" error=" << log::Quote(e.what()));
  }
}

void MqttIngress::Stop() {
  if (stopped_.exchange(true)) {
    return;
  }
  StopSupervisor();
  try {
    if (client_->is_connected()) {
      auto options = mqtt::disconnect_options_builder().timeout(std::chrono::seconds(2));
      if (settings_.end_session_on_stop) {
        options.properties({mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 0)});
      }
      client_->disconnect(options.finalize())->wait_for(std::chrono::seconds(5));
      if (settings_.end_session_on_stop) {
        IOT_LOG_INFO("gateway", "msg=\"MQTT session ended (Session Expiry 0)\"");
      }
    }
  } catch (const mqtt::exception& e) {
    IOT_LOG_WARN("gateway", "msg=\"MQTT disconnect failed\" error=" << log::Quote(e.what()));
  }
  connected_ = false;
}

bool MqttIngress::ConnectAndSubscribe() {
  try {
    auto builder =
        mqtt::connect_options_builder()
            .mqtt_version(MQTTVERSION_5)
            .clean_start(false)
            .properties({mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, settings_.session_expiry_s)})
            .keep_alive_interval(std::chrono::seconds(settings_.keepalive_s))
            .connect_timeout(kConnectTimeout)
            .automatic_reconnect(false)
            .max_inflight(1000);
    if (!settings_.username.empty()) {
      builder.user_name(settings_.username);
    }
    if (!settings_.password.empty()) {
      builder.password(settings_.password);
    }
    auto token = client_->connect(builder.finalize());
    if (!token->wait_for(kConnectTimeout + std::chrono::seconds(1))) {
      IOT_LOG_WARN("gateway", "msg=\"MQTT connect timed out\" uri=" << log::Quote(settings_.uri));
      return false;
    }
    const mqtt::connect_response response = token->get_connect_response();
    for (const std::string& filter : UplinkFilters()) {
      const std::string full = FullFilter(filter);
      const int id = filter == kCustomTopicFilter ? kCustomTopicFilterId : kThingFiltersId;
      auto sub =
          client_->subscribe(full, 1, mqtt::subscribe_options(),
                             mqtt::properties{mqtt::property(mqtt::property::SUBSCRIPTION_IDENTIFIER, id)});
      if (!sub->wait_for(kSubscribeTimeout)) {
        IOT_LOG_WARN("gateway", "msg=\"MQTT subscribe timed out\" filter=" << log::Quote(full));
        return false;
      }
      const mqtt::subscribe_response response_codes = sub->get_subscribe_response();
      const std::vector<mqtt::ReasonCode> codes = response_codes.get_reason_codes();
      if (!codes.empty() && static_cast<int>(codes.front()) >= 0x80) {
        IOT_LOG_ERROR("gateway", "msg=\"MQTT subscribe refused\" filter=" << log::Quote(full) << " reason="
                                                                          << static_cast<int>(codes.front()));
        return false;
      }
    }
    SubscribeBrokerStats();
    connected_ = true;
    metrics_.mqtt_connects.fetch_add(1, std::memory_order_relaxed);
    IOT_LOG_INFO("gateway",
                 "msg=\"MQTT connected\" uri=" << log::Quote(settings_.uri)
                                               << " client_id=" << log::Quote(settings_.client_id)
                                               << " session_present=" << response.is_session_present()
                                               << " share_group=" << log::Quote(settings_.share_group));
    return true;
  } catch (const mqtt::exception& e) {
    IOT_LOG_WARN("gateway", "msg=\"MQTT connect failed\" uri=" << log::Quote(settings_.uri)
                                                               << " error=" << log::Quote(e.what()));
    return false;
  }
}

void MqttIngress::SubscribeBrokerStats() {
  // Not shared: every replica re-exports the broker's figures. QoS 0: nothing queues while it is away.
  // A broker that refuses (another ACL) costs only these metrics.
  for (const char* filter : {BrokerStats::kPluginTopic, BrokerStats::kSysFilter}) {
    try {
      auto sub = client_->subscribe(filter, 0);
      if (!sub->wait_for(kSubscribeTimeout)) {
        IOT_LOG_WARN("gateway", "msg=\"broker metrics: subscribe timed out\" filter=" << log::Quote(filter));
        continue;
      }
      const std::vector<mqtt::ReasonCode> codes = sub->get_subscribe_response().get_reason_codes();
      if (!codes.empty() && static_cast<int>(codes.front()) >= 0x80) {
        IOT_LOG_WARN("gateway", "msg=\"broker metrics: subscribe refused\" filter="
                                    << log::Quote(filter) << " reason=" << static_cast<int>(codes.front()));
      }
    } catch (const mqtt::exception& e) {
      IOT_LOG_WARN("gateway", "msg=\"broker metrics: subscribe failed\" filter="
                                  << log::Quote(filter) << " error=" << log::Quote(e.what()));
    }
  }
}

void MqttIngress::SupervisorLoop() {
  auto backoff = std::chrono::milliseconds(kBackoffMin);
  auto next_attempt = std::chrono::steady_clock::now();
  while (!stopping_) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(10), [&] { return wake_flag_; });
      wake_flag_ = false;
    }
    if (stopping_) {
      break;
    }
    const std::size_t held = pipeline_->Held();
    switch (flow_.Update(held)) {
      case FlowControl::Action::kPause:
        metrics_.pauses.fetch_add(1, std::memory_order_relaxed);
        metrics_.paused = 1;
        IOT_LOG_WARN("gateway", "msg=\"pausing consumption: the broker holds the session\" held="
                                    << held << " high_water=" << settings_.high_water);
        try {
          if (client_->is_connected()) {
            client_->disconnect(std::chrono::seconds(1))->wait_for(std::chrono::seconds(5));
          }
        } catch (const mqtt::exception& e) {
          IOT_LOG_WARN("gateway", "msg=\"MQTT disconnect failed\" error=" << log::Quote(e.what()));
        }
        connected_ = false;
        break;
      case FlowControl::Action::kResume:
        metrics_.resumes.fetch_add(1, std::memory_order_relaxed);
        metrics_.paused = 0;
        IOT_LOG_INFO("gateway", "msg=\"resuming consumption\" held=" << held);
        next_attempt = std::chrono::steady_clock::now();
        backoff = kBackoffMin;
        break;
      case FlowControl::Action::kNone: break;
    }
    if (flow_.Paused() || connected_) {
      continue;
    }
    if (std::chrono::steady_clock::now() < next_attempt) {
      continue;
    }
    if (ConnectAndSubscribe()) {
      backoff = kBackoffMin;
    } else {
      try {
        if (client_->is_connected()) {
          client_->disconnect()->wait_for(std::chrono::seconds(2));
        }
      } catch (const mqtt::exception&) {
      }
      next_attempt = std::chrono::steady_clock::now() + backoff;
      backoff = std::min<std::chrono::milliseconds>(kBackoffMax, backoff * 2);
    }
  }
}

bool MqttIngress::Publish(const std::string& topic, const std::string& payload) {
  try {
    client_->publish(topic, payload.data(), payload.size(), settings_.reply_qos, false);
    return true;
  } catch (const mqtt::exception& e) {
    IOT_LOG_LIMITED(
        PublishNoise(), log::Level::kWarn, "gateway",
        "msg=\"reply publish failed\" topic=" << log::Quote(topic) << " error=" << log::Quote(e.what()));
    return false;
  }
}

}  // namespace iot::gateway

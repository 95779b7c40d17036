#include "mqtt_ingress.hpp"

#include <chrono>

#include "iot/alink/custom_topic.hpp"
#include "iot/common/log.hpp"
#include "iot/mqtt/client.hpp"

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

}  // namespace

bool OnlyThroughCustomTopicFilter(const mqtt::PublishView& msg) {
  std::string_view props = msg.properties;
  mqtt::PropertyValue p;
  bool custom = false;
  while (mqtt::NextProperty(props, p)) {
    if (p.id != static_cast<std::uint8_t>(mqtt::Property::kSubscriptionIdentifier)) {
      continue;
    }
    if (p.number != kCustomTopicFilterId) {
      return false;
    }
    custom = true;
  }
  return custom;
}

bool IsPlatformPublish(const mqtt::PublishView& msg) {
  std::string_view props = msg.properties;
  mqtt::PropertyValue p;
  while (mqtt::NextProperty(props, p)) {
    if (p.id == static_cast<std::uint8_t>(mqtt::Property::kUserProperty) &&
        p.text == alink::kPlatformOrigin) {
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
  mqtt::ClientOptions options = settings_.client;
  options.clean_start = false;
  options.max_buffered = 200000;  // replies during a pause go out on resume
  client_ = std::make_unique<mqtt::Client>(std::move(options));
  broker_ = settings_.client.host + ":" + std::to_string(settings_.client.port);
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
  // Runs on the client's I/O thread: copy, enqueue, maybe wake the supervisor. Never blocks, never drops.
  client_->SetMessageHandler([this](const mqtt::PublishView& msg) {
    if (BrokerStats::Wants(msg.topic)) {  // the broker's figures, for /metrics only
      metrics_.broker.Update(std::string(msg.topic), std::string(msg.payload),
                             static_cast<double>(NowMs()) / 1000.0);
      return;
    }
    InboundMessage in;
    in.topic = msg.topic;
    in.payload = msg.payload;
    in.received_ms = NowMs();
    in.from_platform = IsPlatformPublish(msg);
    in.custom_topic_filter_only = OnlyThroughCustomTopicFilter(msg);
    const std::size_t held = pipeline_->Submit(std::move(in));
    if (held > settings_.high_water) {
      metrics_.overflow.fetch_add(1, std::memory_order_relaxed);
    }
    if (held >= settings_.high_water) {
      Wake();
    }
  });
  client_->SetLostHandler([this](const std::string& cause) {
    connected_ = false;
    metrics_.mqtt_connection_lost.fetch_add(1, std::memory_order_relaxed);
    IOT_LOG_WARN("gateway", "msg=\"MQTT connection lost\" cause=" << log::Quote(cause));
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
  if (!client_->Connected()) {
    return;
  }
  for (const std::string& filter : UplinkFilters()) {
    const int reason = client_->Unsubscribe(FullFilter(filter), kSubscribeTimeout);
    if (reason != 0) {
      IOT_LOG_WARN("gateway", "msg=\"MQTT unsubscribe failed or timed out\" filter="
                                  << log::Quote(FullFilter(filter)) << " reason=" << reason);
    }
  }
  IOT_LOG_INFO("gateway", "msg=\"unsubscribed: draining what is held\"");
}

void MqttIngress::Stop() {
  if (stopped_.exchange(true)) {
    return;
  }
  StopSupervisor();
  if (client_->Connected()) {
    client_->Disconnect(settings_.end_session_on_stop, std::chrono::seconds(5));
    if (settings_.end_session_on_stop) {
      IOT_LOG_INFO("gateway", "msg=\"MQTT session ended (Session Expiry 0)\"");
    }
  }
  connected_ = false;
}

bool MqttIngress::ConnectAndSubscribe() {
  const mqtt::ConnectResult result = client_->Connect(kConnectTimeout);
  if (!result.ok) {
    IOT_LOG_WARN("gateway", "msg=\"MQTT connect failed\" broker=" << log::Quote(broker_)
                                                                  << " error=" << log::Quote(result.error));
    return false;
  }
  for (const std::string& filter : UplinkFilters()) {
    const std::string full = FullFilter(filter);
    const int id = filter == kCustomTopicFilter ? kCustomTopicFilterId : kThingFiltersId;
    const int reason = client_->Subscribe(full, 1, id, kSubscribeTimeout);
    if (reason < 0) {
      IOT_LOG_WARN("gateway", "msg=\"MQTT subscribe timed out\" filter=" << log::Quote(full));
      return false;
    }
    if (reason >= 0x80) {
      IOT_LOG_ERROR("gateway",
                    "msg=\"MQTT subscribe refused\" filter=" << log::Quote(full) << " reason=" << reason);
      return false;
    }
  }
  SubscribeBrokerStats();
  connected_ = true;
  metrics_.mqtt_connects.fetch_add(1, std::memory_order_relaxed);
  IOT_LOG_INFO("gateway",
               "msg=\"MQTT connected\" broker=" << log::Quote(broker_)
                                                << " client_id=" << log::Quote(settings_.client.client_id)
                                                << " session_present=" << result.session_present
                                                << " share_group=" << log::Quote(settings_.share_group));
  return true;
}

void MqttIngress::SubscribeBrokerStats() {
  // Not shared: every replica re-exports the broker's figures. QoS 0: nothing queues while it is away.
  // A broker that refuses (another ACL) costs only these metrics.
  for (const char* filter : {BrokerStats::kPluginTopic, BrokerStats::kSysFilter}) {
    const int reason = client_->Subscribe(filter, 0, 0, kSubscribeTimeout);
    if (reason < 0) {
      IOT_LOG_WARN("gateway", "msg=\"broker metrics: subscribe timed out\" filter=" << log::Quote(filter));
    } else if (reason >= 0x80) {
      IOT_LOG_WARN("gateway", "msg=\"broker metrics: subscribe refused\" filter=" << log::Quote(filter)
                                                                                  << " reason=" << reason);
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
        client_->Disconnect(false, std::chrono::seconds(5));
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
      client_->Disconnect(false, std::chrono::seconds(2));  // a half-made session (subscriptions refused)
      next_attempt = std::chrono::steady_clock::now() + backoff;
      backoff = std::min<std::chrono::milliseconds>(kBackoffMax, backoff * 2);
    }
  }
}

bool MqttIngress::Publish(const std::string& topic, const std::string& payload) {
  if (client_->Publish(topic, payload, settings_.reply_qos)) {
    return true;
  }
  IOT_LOG_LIMITED(
      PublishNoise(), log::Level::kWarn, "gateway",
      "msg=\"reply publish failed: 200000 replies already held for the broker\" topic=" << log::Quote(topic));
  return false;
}

}  // namespace iot::gateway

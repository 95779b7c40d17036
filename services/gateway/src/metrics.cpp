#include "metrics.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "iot/common/process_metrics.hpp"
#include "iot/common/prometheus.hpp"

namespace iot::gateway {
namespace {

using metrics::AppendHeader;
using metrics::AppendScalar;

struct BrokerSeries {
  std::string_view source;  // a $SYS/broker/ suffix, or a key of the plugin's JSON
  std::string_view name;
  std::string_view type;
  std::string_view help;
};

constexpr BrokerSeries kSysSeries[] = {
    {"clients/connected", "iot_broker_clients_connected", "gauge", "Clients connected to the broker"},
    {"clients/disconnected", "iot_broker_clients_disconnected", "gauge",
     "Persistent sessions whose client is disconnected"},
    {"clients/maximum", "iot_broker_clients_maximum", "gauge", "Most clients connected at once"},
    {"messages/received", "iot_broker_messages_received_total", "counter", "MQTT packets received"},
    {"messages/sent", "iot_broker_messages_sent_total", "counter", "MQTT packets sent"},
    {"publish/messages/received", "iot_broker_publish_received_total", "counter",
     "PUBLISH messages received"},
    {"publish/messages/sent", "iot_broker_publish_sent_total", "counter", "PUBLISH messages sent"},
    {"publish/messages/dropped", "iot_broker_publish_dropped_total", "counter",
     "PUBLISH messages dropped (queue limits, offline QoS 0)"},
    {"store/messages/count", "iot_broker_messages_stored", "gauge",
     "Messages held by the broker (retained and queued for sessions)"},
    {"store/messages/bytes", "iot_broker_messages_stored_bytes", "gauge", "Payload bytes held by the broker"},
    {"subscriptions/count", "iot_broker_subscriptions", "gauge", "Subscriptions"},
    {"retained messages/count", "iot_broker_retained_messages", "gauge", "Retained messages"},
    {"bytes/received", "iot_broker_bytes_received_total", "counter", "Bytes received"},
    {"bytes/sent", "iot_broker_bytes_sent_total", "counter", "Bytes sent"},
    {"uptime", "iot_broker_uptime_seconds", "gauge", "Broker uptime"},
};

constexpr BrokerSeries kPluginSeries[] = {
    {"authAllowed", "iot_broker_auth_allowed_total", "counter", "Connections the plugin authenticated"},
    {"authRefused", "iot_broker_auth_refused_total", "counter", "Connections the plugin refused"},
    {"aclDeniedPublish", "iot_broker_acl_denied_publish_total", "counter", "Publishes refused by the ACL"},
    {"aclDeniedSubscribe", "iot_broker_acl_denied_subscribe_total", "counter",
     "Subscriptions refused by the ACL"},
    {"aclDeniedRead", "iot_broker_acl_denied_read_total", "counter", "Deliveries refused by the ACL"},
    {"readDeniedParked", "iot_broker_read_denied_parked_total", "counter",
     "Deliveries refused to a device session that is not its current connection"},
    {"downlinkRateLimited", "iot_broker_downlink_rate_limited_total", "counter",
     "Deliveries refused over a device's downlink limits"},
    {"retainedRefused", "iot_broker_retained_refused_total", "counter",
     "Retained publishes from devices refused"},
    {"kickedReplaced", "iot_broker_kicked_replaced_total", "counter",
     "Sessions closed by a newer connection"},
    {"kickedDisabled", "iot_broker_kicked_disabled_total", "counter",
     "Sessions closed: device disabled or deleted"},
    {"lifecyclePublished", "iot_broker_lifecycle_published_total", "counter",
     "Online/offline messages published"},
    {"registrations", "iot_broker_registrations_total", "counter", "Dynamic registrations accepted"},
    {"registrationsRefused", "iot_broker_registrations_refused_total", "counter",
     "Dynamic registrations refused"},
    {"onlineDevices", "iot_broker_online_devices", "gauge", "Devices online"},
    {"knownDevices", "iot_broker_known_devices", "gauge", "Devices in the plugin's directory"},
};

constexpr std::string_view kSysPrefix = "$SYS/broker/";

// "123" or "123 seconds" (uptime) -> 123; nothing else.
std::optional<double> SysNumber(std::string_view payload) {
  if (payload.ends_with(" seconds")) {
    payload.remove_suffix(8);
  }
  if (payload.empty() || payload.size() > 30) {
    return std::nullopt;
  }
  double value = 0;
  int used = 0;
  const std::string text(payload);
  if (std::sscanf(text.c_str(), "%lf%n", &value, &used) != 1 || used != static_cast<int>(text.size())) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

bool BrokerStats::Wants(std::string_view topic) {
  return topic == kPluginTopic || topic.starts_with(kSysPrefix);
}

void BrokerStats::Update(std::string_view topic, std::string_view payload, double now_s) {
  if (topic == kPluginTopic) {
    const auto json = nlohmann::json::parse(payload, nullptr, false);
    if (!json.is_object()) {
      return;
    }
    std::lock_guard lock(mutex_);
    for (const auto& series : kPluginSeries) {
      const auto it = json.find(std::string(series.source));
      if (it != json.end() && it->is_number()) {
        values_[std::string(series.name)] = it->get<double>();
      }
    }
    plugin_updated_s_ = now_s;
    return;
  }
  if (!topic.starts_with(kSysPrefix)) {
    return;
  }
  const std::string_view suffix = topic.substr(kSysPrefix.size());
  for (const auto& series : kSysSeries) {
    if (series.source != suffix) {
      continue;
    }
    const auto value = SysNumber(payload);
    if (!value) {
      return;
    }
    std::lock_guard lock(mutex_);
    values_[std::string(series.name)] = *value;
    sys_updated_s_ = now_s;
    return;
  }
}

std::optional<double> BrokerStats::Get(std::string_view metric) const {
  std::lock_guard lock(mutex_);
  const auto it = values_.find(metric);
  if (it == values_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void BrokerStats::Render(std::string& out) const {
  std::lock_guard lock(mutex_);
  auto render = [&](const auto& table) {
    for (const auto& series : table) {
      const auto it = values_.find(series.name);
      if (it != values_.end()) {
        AppendScalar(out, series.name, series.type, series.help, it->second);
      }
    }
  };
  render(kSysSeries);
  render(kPluginSeries);
  AppendScalar(out, "iot_broker_sys_updated_timestamp_seconds", "gauge",
               "When the broker's $SYS figures last arrived (0: never)", sys_updated_s_);
  AppendScalar(out, "iot_broker_stats_updated_timestamp_seconds", "gauge",
               "When the plugin's /iot/broker/stats last arrived (0: never)", plugin_updated_s_);
}

void LabeledCounter::Add(const std::string& label, std::uint64_t n) {
  std::lock_guard lock(mutex_);
  values_[label] += n;
}

std::uint64_t LabeledCounter::Get(const std::string& label) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(label);
  return it == values_.end() ? 0 : it->second;
}

void LabeledCounter::Render(std::string& out, std::string_view name, std::string_view label_name,
                            std::string_view help) const {
  AppendHeader(out, name, "counter", help);
  std::lock_guard lock(mutex_);
  for (const auto& [label, value] : values_) {
    metrics::AppendSample(out, name, metrics::RenderLabels({{std::string(label_name), label}}), value);
  }
}

std::string Metrics::Render() const {
  std::string out;
  out.reserve(4096);
  messages_in.Render(out, "iot_gateway_messages_in_total", "kind", "Messages received, by topic kind");
  replies.Render(out, "iot_gateway_replies_total", "code", "Alink replies published, by code");
  items_accepted.Render(out, "iot_gateway_items_accepted_total", "kind",
                        "Properties/events accepted and stored, by topic kind");
  items_refused.Render(out, "iot_gateway_items_refused_total", "code",
                       "Items refused by thing-model validation, by Alink code");
  requests_refused.Render(out, "iot_gateway_requests_refused_total", "code",
                          "Messages refused as a whole, by Alink code");
  config_push_replies.Render(out, "iot_gateway_config_push_replies_total", "code",
                             "Devices' answers to thing.config.push, by Alink code");
  AppendScalar(out, "iot_gateway_duplicates_total", "counter", "Redelivered messages stored once",
               duplicates.load());
  AppendScalar(out, "iot_gateway_rate_limited_total", "counter", "Messages answered 429",
               rate_limited.load());
  AppendScalar(out, "iot_gateway_not_supported_total", "counter",
               "Messages answered 6300 (method not supported)", not_supported.load());
  AppendScalar(out, "iot_gateway_script_calls_total", "counter",
               "Parsing-script calls of raw products (rawDataToProtocol, protocolToRawData)",
               script_calls.load());
  AppendScalar(out, "iot_gateway_ignored_total", "counter", "Messages not for the gateway (downlinks)",
               ignored.load());
  AppendScalar(out, "iot_gateway_mqtt_connects_total", "counter", "Successful MQTT connects",
               mqtt_connects.load());
  AppendScalar(out, "iot_gateway_mqtt_connection_lost_total", "counter", "MQTT connections lost",
               mqtt_connection_lost.load());
  AppendScalar(out, "iot_gateway_pauses_total", "counter", "Consumption paused (high-water mark)",
               pauses.load());
  AppendScalar(out, "iot_gateway_resumes_total", "counter", "Consumption resumed (low-water mark)",
               resumes.load());
  AppendScalar(out, "iot_gateway_paused", "gauge", "1 while consumption is paused", paused.load());
  AppendScalar(out, "iot_gateway_db_retries_total", "counter", "Batches or lookups retried (PostgreSQL away)",
               db_retries.load());
  AppendScalar(out, "iot_gateway_db_failed_messages_total", "counter",
               "Messages the store refused for a data reason (answered 500)", db_failed_messages.load());
  AppendScalar(out, "iot_gateway_publish_errors_total", "counter", "Reply publishes that failed",
               publish_errors.load());
  AppendScalar(out, "iot_gateway_queue_overflow_total", "counter",
               "Messages accepted above the ingress capacity (kept, never dropped)", overflow.load());
  AppendScalar(out, "iot_gateway_batches_total", "counter", "Committed batches", batches.load());
  AppendScalar(out, "iot_gateway_committed_messages_total", "counter", "Messages in committed batches",
               committed_messages.load());
  if (queue_depth) {
    AppendScalar(out, "iot_gateway_queue_depth", "gauge", "Messages held by the gateway (all stages)",
                 static_cast<double>(queue_depth()));
  }
  if (queue_capacity) {
    AppendScalar(out, "iot_gateway_queue_capacity", "gauge", "Ingress high-water mark",
                 static_cast<double>(queue_capacity()));
  }
  if (mqtt_connected && database_ok) {
    const bool mqtt = mqtt_connected(), db = database_ok();
    AppendScalar(out, "iot_gateway_mqtt_connected", "gauge", "1 while connected to the broker", mqtt ? 1 : 0);
    AppendScalar(out, "iot_gateway_database_ok", "gauge", "1 while PostgreSQL answers", db ? 1 : 0);
    AppendScalar(out, "iot_gateway_ready", "gauge", "1 while ready (broker and PostgreSQL, as /readyz)",
                 mqtt && db ? 1 : 0);
  }
  batch_size.Append(out, "iot_gateway_batch_size", "Messages per committed batch");
  commit_seconds.Append(out, "iot_gateway_commit_seconds", "Batch transaction latency");
  ingest_lag_seconds.Append(out, "iot_gateway_ingest_lag_seconds",
                            "From a message's arrival at the gateway to its commit (oldest of each batch)");
  broker.Render(out);
  out += metrics::RenderSelf("gateway");
  return out;
}

}  // namespace iot::gateway

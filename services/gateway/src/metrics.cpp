#include "metrics.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "iot/common/prometheus.hpp"

namespace iot::gateway {
namespace {

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

Metrics::Metrics()
    : messages_in(
          registry.CountersBy("iot_gateway_messages_in_total", "kind", "Messages received, by topic kind")),
      replies(registry.CountersBy("iot_gateway_replies_total", "code", "Alink replies published, by code")),
      items_accepted(registry.CountersBy("iot_gateway_items_accepted_total", "kind",
                                         "Properties/events accepted and stored, by topic kind")),
      items_refused(registry.CountersBy("iot_gateway_items_refused_total", "code",
                                        "Items refused by thing-model validation, by Alink code")),
      requests_refused(registry.CountersBy("iot_gateway_requests_refused_total", "code",
                                           "Messages refused as a whole, by Alink code")),
      unanswered(registry.CountersBy("iot_gateway_unanswered_total", "kind",
                                     "Device messages with no answer by design (device replies, reply-less "
                                     "topics, sys.ack 0), by topic kind")),
      config_push_replies(registry.CountersBy("iot_gateway_config_push_replies_total", "code",
                                              "Devices' answers to thing.config.push, by Alink code")),
      duplicates(registry.Counter("iot_gateway_duplicates_total", "Redelivered messages stored once")),
      rate_limited(registry.Counter("iot_gateway_rate_limited_total", "Messages answered 429")),
      not_supported(registry.Counter("iot_gateway_not_supported_total",
                                     "Messages answered 6300 (method not supported)")),
      script_calls(
          registry.Counter("iot_gateway_script_calls_total",
                           "Parsing-script calls of raw products (rawDataToProtocol, protocolToRawData)")),
      ignored(registry.Counter("iot_gateway_ignored_total", "Messages not for the gateway (downlinks)")),
      mqtt_connects(registry.Counter("iot_gateway_mqtt_connects_total", "Successful MQTT connects")),
      mqtt_connection_lost(
          registry.Counter("iot_gateway_mqtt_connection_lost_total", "MQTT connections lost")),
      pauses(registry.Counter("iot_gateway_pauses_total", "Consumption paused (high-water mark)")),
      resumes(registry.Counter("iot_gateway_resumes_total", "Consumption resumed (low-water mark)")),
      paused(registry.Gauge("iot_gateway_paused", "1 while consumption is paused")),
      db_retries(
          registry.Counter("iot_gateway_db_retries_total", "Batches or lookups retried (PostgreSQL away)")),
      db_failed_messages(registry.Counter("iot_gateway_db_failed_messages_total",
                                          "Messages the store refused for a data reason (answered 500)")),
      publish_errors(registry.Counter("iot_gateway_publish_errors_total", "Reply publishes that failed")),
      overflow(registry.Counter("iot_gateway_queue_overflow_total",
                                "Messages accepted above the ingress capacity (kept, never dropped)")),
      batches(registry.Counter("iot_gateway_batches_total", "Committed batches")),
      committed_messages(
          registry.Counter("iot_gateway_committed_messages_total", "Messages in committed batches")),
      batch_size(registry.AddHistogram("iot_gateway_batch_size", "Messages per committed batch",
                                       {1, 4, 16, 64, 128, 256, 512, 1000, 2000})),
      commit_seconds(
          registry.AddHistogram("iot_gateway_commit_seconds", "Batch transaction latency",
                                {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5})),
      ingest_lag_seconds(registry.AddHistogram(
          "iot_gateway_ingest_lag_seconds",
          "From a message's arrival at the gateway to its commit (oldest of each batch)",
          {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})) {
  // The gauges read at scrape time; `this` outlives the registry's use (a member of it).
  auto size = [this](std::function<std::size_t()> Metrics::*gauge) {
    return [this, gauge]() -> std::optional<double> {
      const auto& read = this->*gauge;
      return read ? std::optional<double>(static_cast<double>(read())) : std::nullopt;
    };
  };
  registry.AddGaugeCallback("iot_gateway_queue_depth", "Messages held by the gateway (all stages)",
                            size(&Metrics::queue_depth));
  registry.AddGaugeCallback("iot_gateway_queue_capacity", "Ingress high-water mark",
                            size(&Metrics::queue_capacity));
  auto probe = [this](bool mqtt, bool db) {
    return [this, mqtt, db]() -> std::optional<double> {
      if (!mqtt_connected || !database_ok) {
        return std::nullopt;
      }
      return (!mqtt || mqtt_connected()) && (!db || database_ok()) ? 1 : 0;
    };
  };
  registry.AddGaugeCallback("iot_gateway_mqtt_connected", "1 while connected to the broker",
                            probe(true, false));
  registry.AddGaugeCallback("iot_gateway_database_ok", "1 while PostgreSQL answers", probe(false, true));
  registry.AddGaugeCallback("iot_gateway_ready", "1 while ready (broker and PostgreSQL, as /readyz)",
                            probe(true, true));
  registry.AddCollector([this](std::string& out) { broker.Render(out); });
}

}  // namespace iot::gateway

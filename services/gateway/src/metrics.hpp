#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/prometheus.hpp"

namespace iot::gateway {

using iot::metrics::Histogram;

// Counters keyed by a small label value (topic kind, Alink code). A mutex per increment is fine at
// the gateway's rates (one lock per message, uncontended most of the time).
class LabeledCounter {
 public:
  void Add(const std::string& label, std::uint64_t n = 1);
  std::uint64_t Get(const std::string& label) const;
  void Render(std::string& out, std::string_view name, std::string_view label_name,
              std::string_view help) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> values_;
};

// The broker's own figures, re-exported by every gateway (they describe the broker, not the replica):
// Mosquitto's $SYS/broker/... topics (clients, messages in/out, dropped, stored) and the project plugin's
// counters on /iot/broker/stats (auth, ACL refusals, kicks, registrations, devices online). Known topics
// and keys only, so a broker cannot grow the series without bound.
class BrokerStats {
 public:
  static constexpr const char* kPluginTopic = "/iot/broker/stats";
  static constexpr const char* kSysFilter = "$SYS/broker/#";
  static bool Wants(std::string_view topic);
  // One message from the broker; `now_s` (Unix seconds) is recorded as the source's last update.
  void Update(std::string_view topic, std::string_view payload, double now_s);
  void Render(std::string& out) const;
  std::optional<double> Get(std::string_view metric) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, double, std::less<>> values_;  // metric name -> value
  double plugin_updated_s_ = 0;
  double sys_updated_s_ = 0;
};

// Everything /metrics shows. Shared by all threads.
struct Metrics {
  LabeledCounter messages_in;          // by topic kind
  LabeledCounter replies;              // by Alink code
  LabeledCounter items_accepted;       // by topic kind
  LabeledCounter items_refused;        // by Alink code
  LabeledCounter requests_refused;     // request-level failures by Alink code
  LabeledCounter config_push_replies;  // devices' thing.config.push_reply by code
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> rate_limited{0};
  std::atomic<std::uint64_t> not_supported{0};
  std::atomic<std::uint64_t> script_calls{0};  // raw products: parsing-script calls
  std::atomic<std::uint64_t> ignored{0};       // not device-published, or not ours
  std::atomic<std::uint64_t> mqtt_connects{0};
  std::atomic<std::uint64_t> mqtt_connection_lost{0};
  std::atomic<std::uint64_t> pauses{0};
  std::atomic<std::uint64_t> resumes{0};
  std::atomic<std::uint64_t> db_retries{0};
  std::atomic<std::uint64_t> db_failed_messages{0};
  std::atomic<std::uint64_t> publish_errors{0};
  std::atomic<std::uint64_t> overflow{0};  // pushed above the ingress capacity (never dropped)
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> committed_messages{0};
  std::atomic<std::int64_t> paused{0};
  Histogram batch_size{{1, 4, 16, 64, 128, 256, 512, 1000, 2000}};
  Histogram commit_seconds{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}};
  // From a message's arrival at the gateway to its batch's commit (the batch's oldest message).
  Histogram ingest_lag_seconds{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  BrokerStats broker;
  // Gauges read at render time.
  std::function<std::size_t()> queue_depth;
  std::function<std::size_t()> queue_capacity;
  std::function<bool()> mqtt_connected;  // iot_gateway_ready = both (what /readyz answers 200 for)
  std::function<bool()> database_ok;

  std::string Render() const;
};

}  // namespace iot::gateway

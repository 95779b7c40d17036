#pragma once

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

using iot::metrics::LabeledCounter;

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

// Everything /metrics shows, in the one registry type of libs/common: the fields are handles into
// `registry` (updated without its lock). Shared by all threads.
struct Metrics {
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  metrics::Registry registry{"gateway"};  // first: the handles below refer into it
  LabeledCounter& messages_in;            // by topic kind
  LabeledCounter& replies;                // by Alink code
  LabeledCounter& items_accepted;         // by topic kind
  LabeledCounter& items_refused;          // by Alink code
  LabeledCounter& requests_refused;       // request-level failures by Alink code
  LabeledCounter& unanswered;             // device messages with no answer by design, by topic kind
  LabeledCounter& config_push_replies;    // devices' thing.config.push answers, by Alink code
  std::atomic<std::uint64_t>& duplicates;
  std::atomic<std::uint64_t>& rate_limited;
  std::atomic<std::uint64_t>& not_supported;
  std::atomic<std::uint64_t>& script_calls;  // raw products: parsing-script calls
  std::atomic<std::uint64_t>& ignored;       // not device-published, or not ours
  std::atomic<std::uint64_t>& mqtt_connects;
  std::atomic<std::uint64_t>& mqtt_connection_lost;
  std::atomic<std::uint64_t>& pauses;
  std::atomic<std::uint64_t>& resumes;
  std::atomic<std::int64_t>& paused;
  std::atomic<std::uint64_t>& db_retries;
  std::atomic<std::uint64_t>& db_failed_messages;
  std::atomic<std::uint64_t>& publish_errors;
  std::atomic<std::uint64_t>& overflow;  // pushed above the ingress capacity (never dropped)
  std::atomic<std::uint64_t>& batches;
  std::atomic<std::uint64_t>& committed_messages;
  Histogram& batch_size;
  Histogram& commit_seconds;
  // From a message's arrival at the gateway to its batch's commit (the batch's oldest message).
  Histogram& ingest_lag_seconds;
  BrokerStats broker;
  // Gauges read at render time (unset: not shown).
  std::function<std::size_t()> queue_depth;
  std::function<std::size_t()> queue_capacity;
  std::function<bool()> mqtt_connected;  // iot_gateway_ready = both (what /readyz answers 200 for)
  std::function<bool()> database_ok;

  std::string Render() const { return registry.Render(); }
};

}  // namespace iot::gateway

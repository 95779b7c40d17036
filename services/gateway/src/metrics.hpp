#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace iot::gateway {

// Cumulative histogram with fixed upper bounds (Prometheus `le` buckets).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  void Render(std::string& out, std::string_view name, std::string_view help) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

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

// Everything /metrics shows. Shared by all threads.
struct Metrics {
  LabeledCounter messages_in;     // by topic kind
  LabeledCounter replies;         // by Alink code
  LabeledCounter items_accepted;  // by topic kind
  LabeledCounter items_refused;   // by Alink code
  LabeledCounter requests_refused;  // request-level failures by Alink code
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> rate_limited{0};
  std::atomic<std::uint64_t> not_supported{0};
  std::atomic<std::uint64_t> script_calls{0};  // raw products: parsing-script calls
  std::atomic<std::uint64_t> ignored{0};  // not device-published, or not ours
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
  // Gauges read at render time.
  std::function<std::size_t()> queue_depth;
  std::function<std::size_t()> queue_capacity;

  std::string Render() const;
};

}  // namespace iot::gateway

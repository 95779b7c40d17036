#include "http/metrics.hpp"

#include <array>

#include "iot/common/process_metrics.hpp"
#include "iot/common/prometheus.hpp"

namespace iot::api {
namespace {

// Latency buckets in seconds (upper bounds); +Inf is implicit.
constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

std::string StatusClass(int status) { return std::to_string(status / 100) + "xx"; }

}  // namespace

std::string RenderLabels(const MetricsRegistry::Labels& labels) { return metrics::RenderLabels(labels); }

MetricsRegistry::MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view type,
                                                    std::string_view help) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{std::string(type), std::string(help), {}}).first;
  }
  return it->second;
}

void MetricsRegistry::Increment(std::string_view name, std::string_view help, const Labels& labels,
                                double by) {
  const std::string rendered = RenderLabels(labels);
  std::lock_guard lock(mutex_);
  FamilyFor(name, "counter", help).series[rendered] += by;
}

void MetricsRegistry::SetGauge(std::string_view name, std::string_view help, const Labels& labels,
                               double value) {
  const std::string rendered = RenderLabels(labels);
  std::lock_guard lock(mutex_);
  FamilyFor(name, "gauge", help).series[rendered] = value;
}

void MetricsRegistry::AddGaugeCallback(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  callbacks_.push_back({std::move(name), std::move(help), std::move(read)});
}

void MetricsRegistry::ObserveRequest(std::string_view route, std::string_view method, int status,
                                     double seconds) {
  const std::string base = RenderLabels({{"route", std::string(route)}, {"method", std::string(method)}});
  const std::string counted = metrics::WithLabel(base, "status=\"" + StatusClass(status) + "\"");
  std::lock_guard lock(mutex_);
  FamilyFor("iot_http_requests_total", "counter", "HTTP requests by route pattern, method and status class")
      .series[counted] += 1;
  Histogram& h = latency_[base];
  if (h.buckets.empty()) {
    h.buckets.assign(kBuckets.size(), 0);
  }
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++h.buckets[i];
      break;
    }
  }
  h.sum += seconds;
  ++h.count;
}

std::string MetricsRegistry::Render() const {
  std::string out;
  metrics::AppendScalar(out, "iot_http_connections", "gauge", "Open HTTP connections", connections_.load());
  metrics::AppendScalar(out, "iot_http_requests_in_flight", "gauge", "Requests received and not yet answered",
                        in_flight_.load());
  metrics::AppendScalar(out, "iot_http_connections_refused_total", "counter",
                        "Connections closed at accept: limit reached", refused_connections_.load());

  std::vector<GaugeCallback> callbacks;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, family] : families_) {
      metrics::AppendHeader(out, name, family.type, family.help);
      for (const auto& [labels, value] : family.series) {
        metrics::AppendSample(out, name, labels, value);
      }
    }
    if (!latency_.empty()) {
      metrics::AppendHeader(out, "iot_http_request_duration_seconds", "histogram",
                            "Time from complete request to response");
    }
    // Counted under this registry's mutex (metrics::Histogram is the lock-free one for unlabelled series).
    for (const auto& [labels, h] : latency_) {
      std::uint64_t cumulative = 0;
      std::string le;
      for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += h.buckets[i];
        le = "le=\"";
        metrics::AppendValue(le, kBuckets[i]);
        le += '"';
        metrics::AppendSample(out, "iot_http_request_duration_seconds_bucket", metrics::WithLabel(labels, le),
                              cumulative);
      }
      metrics::AppendSample(out, "iot_http_request_duration_seconds_bucket",
                            metrics::WithLabel(labels, "le=\"+Inf\""), h.count);
      metrics::AppendSample(out, "iot_http_request_duration_seconds_sum", labels, h.sum);
      metrics::AppendSample(out, "iot_http_request_duration_seconds_count", labels, h.count);
    }
    callbacks = callbacks_;
  }
  // Callbacks run outside the lock: they may take their component's own locks.
  for (const auto& cb : callbacks) {
    metrics::AppendScalar(out, cb.name, "gauge", cb.help, cb.read());
  }
  out += metrics::RenderSelf("api");  // iot_build_info and process_*
  return out;
}

}  // namespace iot::api

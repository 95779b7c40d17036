#include "http/metrics.hpp"

#include <array>
#include <cstdio>
#include <sstream>

#include "iot/common/process_metrics.hpp"

namespace iot::api {
namespace {

// Latency buckets in seconds (upper bounds); +Inf is implicit.
constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

std::string FormatValue(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return buf;
}

std::string StatusClass(int status) { return std::to_string(status / 100) + "xx"; }

// Inserts `extra` (rendered `k="v"`) into already rendered labels.
std::string WithLabel(const std::string& labels, const std::string& extra) {
  if (labels.empty()) {
    return "{" + extra + "}";
  }
  return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

}  // namespace

std::string RenderLabels(const MetricsRegistry::Labels& labels) {
  if (labels.empty()) {
    return "";
  }
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += key;
    out += "=\"";
    out += iot::metrics::EscapeLabelValue(value);
    out += '"';
  }
  out += '}';
  return out;
}

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

void MetricsRegistry::AddGaugeCallback(std::string name, std::string help,
                                       std::function<double()> read) {
  std::lock_guard lock(mutex_);
  callbacks_.push_back({std::move(name), std::move(help), std::move(read)});
}

void MetricsRegistry::ObserveRequest(std::string_view route, std::string_view method, int status,
                                     double seconds) {
  const std::string base = RenderLabels({{"route", std::string(route)}, {"method", std::string(method)}});
  const std::string counted = WithLabel(base, "status=\"" + StatusClass(status) + "\"");
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
  std::ostringstream out;
  out << "# HELP iot_http_connections Open HTTP connections\n# TYPE iot_http_connections gauge\n"
      << "iot_http_connections " << connections_.load() << "\n";
  out << "# HELP iot_http_requests_in_flight Requests received and not yet answered\n"
      << "# TYPE iot_http_requests_in_flight gauge\n"
      << "iot_http_requests_in_flight " << in_flight_.load() << "\n";
  out << "# HELP iot_http_connections_refused_total Connections closed at accept: limit reached\n"
      << "# TYPE iot_http_connections_refused_total counter\n"
      << "iot_http_connections_refused_total " << refused_connections_.load() << "\n";

  std::vector<GaugeCallback> callbacks;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, family] : families_) {
      out << "# HELP " << name << ' ' << family.help << "\n# TYPE " << name << ' ' << family.type
          << "\n";
      for (const auto& [labels, value] : family.series) {
        out << name << labels << ' ' << FormatValue(value) << "\n";
      }
    }
    if (!latency_.empty()) {
      out << "# HELP iot_http_request_duration_seconds Time from complete request to response\n"
          << "# TYPE iot_http_request_duration_seconds histogram\n";
    }
    for (const auto& [labels, h] : latency_) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < kBuckets.size(); ++i) {
        cumulative += h.buckets[i];
        out << "iot_http_request_duration_seconds_bucket"
            << WithLabel(labels, "le=\"" + FormatValue(kBuckets[i]) + "\"") << ' ' << cumulative
            << "\n";
      }
      out << "iot_http_request_duration_seconds_bucket" << WithLabel(labels, "le=\"+Inf\"") << ' '
          << h.count << "\n";
      out << "iot_http_request_duration_seconds_sum" << labels << ' ' << FormatValue(h.sum) << "\n";
      out << "iot_http_request_duration_seconds_count" << labels << ' ' << h.count << "\n";
    }
    callbacks = callbacks_;
  }
  // Callbacks run outside the lock: they may take their component's own locks.
  for (const auto& cb : callbacks) {
    out << "# HELP " << cb.name << ' ' << cb.help << "\n# TYPE " << cb.name << " gauge\n"
        << cb.name << ' ' << FormatValue(cb.read()) << "\n";
  }
  out << metrics::RenderSelf("api");  // iot_build_info and process_*
  return out.str();
}

}  // namespace iot::api

#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// The Prometheus text exposition format (0.0.4), written one way for every service's /metrics: headers,
// samples, label sets (values escaped), fixed-bucket histograms, and the one Registry type a service keeps
// its metrics in (iot-gateway and iot-api both).
namespace iot::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// {k="v",...} with every value escaped (EscapeLabelValue); "" for no labels.
std::string RenderLabels(const Labels& labels);
// Rendered labels plus one more `k="v"` (already escaped): {a="1"} + le="0.5" -> {a="1",le="0.5"}.
std::string WithLabel(std::string_view rendered, std::string_view extra);

// A number as Prometheus reads it back: integers exactly, others with 12 significant digits.
void AppendValue(std::string& out, double value);
template <class V>
requires std::is_integral_v<V>
void AppendValue(std::string& out, V value) { out += std::to_string(value); }

// "# HELP name help\n# TYPE name type\n".
void AppendHeader(std::string& out, std::string_view name, std::string_view type, std::string_view help);
// "name{labels} value\n" (`labels` rendered by RenderLabels, "" for none).
template <class V>
void AppendSample(std::string& out, std::string_view name, std::string_view labels, V value) {
  out.append(name).append(labels).append(" ");
  AppendValue(out, value);
  out += '\n';
}
// Header and one unlabelled sample.
template <class V>
void AppendScalar(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                  V value) {
  AppendHeader(out, name, type, help);
  AppendSample(out, name, "", value);
}

// Cumulative histogram with fixed upper bounds (the `le` buckets; +Inf implied). Observe is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value);
  // The _bucket, _sum and _count samples under `labels` (rendered; the header is the caller's, once per
  // family).
  void AppendSeries(std::string& out, std::string_view name, std::string_view labels) const;
  // Header and the unlabelled series.
  void Append(std::string& out, std::string_view name, std::string_view help) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // one per bound, plus +Inf
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

// Counters keyed by the value of one label (topic kind, Alink code). A mutex per increment: fine at the
// gateway's rates (one lock per message, uncontended most of the time).
class LabeledCounter {
 public:
  void Add(const std::string& label, std::uint64_t n = 1);
  std::uint64_t Get(const std::string& label) const;
  // The samples name{label_name="label"} (the header is the caller's).
  void AppendSeries(std::string& out, std::string_view name, std::string_view label_name) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> values_;
};

// The metrics of one process, rendered in the order they were first registered, then iot_build_info and
// process_* (RenderSelf) for `service`. Thread-safe. Two ways in:
//  - handles, made once at startup and updated without the registry's lock (hot paths): Counter, Gauge,
//    CountersBy, AddHistogram return references that live as long as the registry;
//  - by name and labels, a lock and a map lookup per call (request paths): Increment, SetGauge, Observe.
// A name is one family of one kind: using it as another kind throws std::logic_error.
class Registry {
 public:
  explicit Registry(std::string service = "");
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  std::atomic<std::uint64_t>& Counter(std::string_view name, std::string_view help);
  std::atomic<std::int64_t>& Gauge(std::string_view name, std::string_view help);
  LabeledCounter& CountersBy(std::string_view name, std::string_view label_name, std::string_view help);
  Histogram& AddHistogram(std::string_view name, std::string_view help, std::vector<double> bounds);

  void Increment(std::string_view name, std::string_view help, const Labels& labels = {}, double by = 1.0);
  void SetGauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // One observation in the series `labels` (rendered, RenderLabels) of the histogram family `name`, whose
  // bounds are fixed by its first use.
  void Observe(std::string_view name, std::string_view help, const std::vector<double>& bounds,
               const std::string& labels, double value);

  // A gauge read at scrape time (cheap, non-blocking; it may take its component's own locks: it is called
  // without the registry's). No value (nullopt): no sample, no header.
  void AddGaugeCallback(std::string name, std::string help, std::function<std::optional<double>()> read);
  // Text appended at scrape time as is (families whose series come from elsewhere, e.g. the broker's).
  void AddCollector(std::function<void(std::string&)> append);

  std::string Render() const;

 private:
  struct Family;
  Family& FamilyFor(std::string_view name, int kind, std::string_view type, std::string_view help);

  std::string service_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family>> families_;  // registration order; never removed
  std::map<std::string, Family*, std::less<>> by_name_;
};

}  // namespace iot::metrics

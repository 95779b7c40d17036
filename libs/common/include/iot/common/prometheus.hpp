#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// The Prometheus text exposition format (0.0.4), written one way for every service's /metrics: headers,
// samples, label sets (values escaped) and fixed-bucket histograms.
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

}  // namespace iot::metrics

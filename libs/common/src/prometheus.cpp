#include "iot/common/prometheus.hpp"

#include <cstdio>

#include "iot/common/process_metrics.hpp"

namespace iot::metrics {

std::string RenderLabels(const Labels& labels) {
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
    out += EscapeLabelValue(value);
    out += '"';
  }
  out += '}';
  return out;
}

std::string WithLabel(std::string_view rendered, std::string_view extra) {
  std::string out;
  if (rendered.empty()) {
    out.append("{").append(extra).append("}");
    return out;
  }
  out.append(rendered.substr(0, rendered.size() - 1)).append(",").append(extra).append("}");
  return out;
}

void AppendValue(std::string& out, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.12g", value);
  out += buf;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) {
    ++i;
  }
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

void Histogram::AppendSeries(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string bucket = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  std::string le;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    le = "le=\"";
    if (i < bounds_.size()) {
      AppendValue(le, bounds_[i]);
    } else {
      le += "+Inf";
    }
    le += '"';
    AppendSample(out, bucket, WithLabel(labels, le), cumulative);
  }
  AppendSample(out, std::string(name) + "_sum", labels, sum_.load(std::memory_order_relaxed));
  AppendSample(out, std::string(name) + "_count", labels, count_.load(std::memory_order_relaxed));
}

void Histogram::Append(std::string& out, std::string_view name, std::string_view help) const {
  AppendHeader(out, name, "histogram", help);
  AppendSeries(out, name, "");
}

}  // namespace iot::metrics

#include "iot/common/prometheus.hpp"

#include <cstdio>
#include <stdexcept>

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

void LabeledCounter::Add(const std::string& label, std::uint64_t n) {
  std::lock_guard lock(mutex_);
  values_[label] += n;
}

std::uint64_t LabeledCounter::Get(const std::string& label) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(label);
  return it == values_.end() ? 0 : it->second;
}

void LabeledCounter::AppendSeries(std::string& out, std::string_view name,
                                  std::string_view label_name) const {
  std::lock_guard lock(mutex_);
  for (const auto& [label, value] : values_) {
    AppendSample(out, name, RenderLabels({{std::string(label_name), label}}), value);
  }
}

namespace {

enum Kind : int { kCounter, kGauge, kCountersBy, kHistogram, kValues, kHistograms, kCallback, kCollector };

}  // namespace

struct Registry::Family {
  int kind = kCounter;
  std::string name, type, help;
  std::atomic<std::uint64_t> counter{0};                     // kCounter
  std::atomic<std::int64_t> gauge{0};                        // kGauge
  LabeledCounter by_label;                                   // kCountersBy
  std::string label_name;                                    // kCountersBy
  std::unique_ptr<Histogram> histogram;                      // kHistogram
  std::map<std::string, double> values;                      // kValues: rendered labels -> value (locked)
  std::vector<double> bounds;                                // kHistograms
  std::map<std::string, std::unique_ptr<Histogram>> series;  // kHistograms: rendered labels (locked)
  std::function<std::optional<double>()> read;               // kCallback
  std::function<void(std::string&)> append;                  // kCollector
};

Registry::Registry(std::string service) : service_(std::move(service)) {}

Registry::~Registry() = default;

Registry::Family& Registry::FamilyFor(std::string_view name, int kind, std::string_view type,
                                      std::string_view help) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    if (it->second->kind != kind) {
      throw std::logic_error("metric " + std::string(name) + " registered as another kind");
    }
    return *it->second;
  }
  auto family = std::make_unique<Family>();
  family->kind = kind;
  family->name = name;
  family->type = type;
  family->help = help;
  Family& f = *family;
  families_.push_back(std::move(family));
  by_name_.emplace(f.name, &f);
  return f;
}

std::atomic<std::uint64_t>& Registry::Counter(std::string_view name, std::string_view help) {
  std::lock_guard lock(mutex_);
  return FamilyFor(name, kCounter, "counter", help).counter;
}

std::atomic<std::int64_t>& Registry::Gauge(std::string_view name, std::string_view help) {
  std::lock_guard lock(mutex_);
  return FamilyFor(name, kGauge, "gauge", help).gauge;
}

LabeledCounter& Registry::CountersBy(std::string_view name, std::string_view label_name,
                                     std::string_view help) {
  std::lock_guard lock(mutex_);
  Family& f = FamilyFor(name, kCountersBy, "counter", help);
  f.label_name = label_name;
  return f.by_label;
}

Histogram& Registry::AddHistogram(std::string_view name, std::string_view help, std::vector<double> bounds) {
  std::lock_guard lock(mutex_);
  Family& f = FamilyFor(name, kHistogram, "histogram", help);
  if (!f.histogram) {
    f.histogram = std::make_unique<Histogram>(std::move(bounds));
  }
  return *f.histogram;
}

void Registry::Increment(std::string_view name, std::string_view help, const Labels& labels, double by) {
  const std::string rendered = RenderLabels(labels);
  std::lock_guard lock(mutex_);
  FamilyFor(name, kValues, "counter", help).values[rendered] += by;
}

void Registry::SetGauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
  const std::string rendered = RenderLabels(labels);
  std::lock_guard lock(mutex_);
  Family& f = FamilyFor(name, kValues, "gauge", help);
  if (f.type != "gauge") {
    throw std::logic_error("metric " + std::string(name) + " registered as a counter");
  }
  f.values[rendered] = value;
}

void Registry::Observe(std::string_view name, std::string_view help, const std::vector<double>& bounds,
                       const std::string& labels, double value) {
  Histogram* h = nullptr;
  {
    std::lock_guard lock(mutex_);
    Family& f = FamilyFor(name, kHistograms, "histogram", help);
    if (f.series.empty() && f.bounds.empty()) {
      f.bounds = bounds;
    }
    auto& slot = f.series[labels];
    if (!slot) {
      slot = std::make_unique<Histogram>(f.bounds);
    }
    h = slot.get();
  }
  h->Observe(value);  // lock-free; the series lives as long as the registry
}

void Registry::AddGaugeCallback(std::string name, std::string help,
                                std::function<std::optional<double>()> read) {
  std::lock_guard lock(mutex_);
  FamilyFor(name, kCallback, "gauge", help).read = std::move(read);
}

void Registry::AddCollector(std::function<void(std::string&)> append) {
  std::lock_guard lock(mutex_);
  auto family = std::make_unique<Family>();  // unnamed: not in by_name_
  family->kind = kCollector;
  family->append = std::move(append);
  families_.push_back(std::move(family));
}

std::string Registry::Render() const {
  std::vector<const Family*> families;
  {
    std::lock_guard lock(mutex_);
    families.reserve(families_.size());
    for (const auto& f : families_) {
      families.push_back(f.get());
    }
  }
  std::string out;
  out.reserve(4096);
  for (const Family* f : families) {
    switch (f->kind) {
      case kCounter: AppendScalar(out, f->name, f->type, f->help, f->counter.load()); break;
      case kGauge: AppendScalar(out, f->name, f->type, f->help, f->gauge.load()); break;
      case kCountersBy:
        AppendHeader(out, f->name, f->type, f->help);
        f->by_label.AppendSeries(out, f->name, f->label_name);
        break;
      case kHistogram: f->histogram->Append(out, f->name, f->help); break;
      case kValues: {
        std::lock_guard lock(mutex_);
        AppendHeader(out, f->name, f->type, f->help);
        for (const auto& [labels, value] : f->values) {
          AppendSample(out, f->name, labels, value);
        }
        break;
      }
      case kHistograms: {
        std::lock_guard lock(mutex_);
        if (!f->series.empty()) {
          AppendHeader(out, f->name, f->type, f->help);
        }
        for (const auto& [labels, histogram] : f->series) {
          histogram->AppendSeries(out, f->name, labels);
        }
        break;
      }
      case kCallback:  // outside the registry's lock: the callback may take its component's
        if (const std::optional<double> value = f->read()) {
          AppendScalar(out, f->name, f->type, f->help, *value);
        }
        break;
      case kCollector: f->append(out); break;
      default: break;
    }
  }
  if (!service_.empty()) {
    out += RenderSelf(service_);
  }
  return out;
}

}  // namespace iot::metrics

#include "metrics.hpp"

#include <cstdio>

namespace iot::gateway {
namespace {

void AppendNumber(std::string& out, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  out += buf;
}

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Scalar(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            double v) {
  Header(out, name, type, help);
  out.append(name).append(" ");
  AppendNumber(out, v);
  out += "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

void Histogram::Render(std::string& out, std::string_view name, std::string_view help) const {
  Header(out, name, "histogram", help);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out.append(name).append("_bucket{le=\"");
    if (i < bounds_.size()) {
      AppendNumber(out, bounds_[i]);
    } else {
      out += "+Inf";
    }
    out += "\"} " + std::to_string(cumulative) + "\n";
  }
  out.append(name).append("_sum ");
  AppendNumber(out, sum_.load(std::memory_order_relaxed));
  out += "\n";
  out.append(name).append("_count ").append(std::to_string(count_.load())).append("\n");
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

void LabeledCounter::Render(std::string& out, std::string_view name, std::string_view label_name,
                            std::string_view help) const {
  Header(out, name, "counter", help);
  std::lock_guard lock(mutex_);
  for (const auto& [label, value] : values_) {
    out.append(name).append("{").append(label_name).append("=\"").append(label).append("\"} ");
    out += std::to_string(value) + "\n";
  }
}

std::string Metrics::Render() const {
  std::string out;
  out.reserve(4096);
  messages_in.Render(out, "iot_gateway_messages_in_total", "kind", "Messages received, by topic kind");
  replies.Render(out, "iot_gateway_replies_total", "code", "Alink replies published, by code");
  items_accepted.Render(out, "iot_gateway_items_accepted_total", "kind",
                        "Properties/events accepted and stored, by topic kind");
  items_refused.Render(out, "iot_gateway_items_refused_total", "code",
                       "Items refused by thing-model validation, by Alink code");
  requests_refused.Render(out, "iot_gateway_requests_refused_total", "code",
                          "Messages refused as a whole, by Alink code");
  Scalar(out, "iot_gateway_duplicates_total", "counter", "Redelivered messages stored once",
         static_cast<double>(duplicates.load()));
  Scalar(out, "iot_gateway_rate_limited_total", "counter", "Messages answered 429",
         static_cast<double>(rate_limited.load()));
  Scalar(out, "iot_gateway_not_supported_total", "counter",
         "Messages answered 6300 (method not supported)", static_cast<double>(not_supported.load()));
  Scalar(out, "iot_gateway_script_calls_total", "counter",
         "Parsing-script calls of raw products (rawDataToProtocol, protocolToRawData)",
         static_cast<double>(script_calls.load()));
  Scalar(out, "iot_gateway_ignored_total", "counter", "Messages not for the gateway (downlinks)",
         static_cast<double>(ignored.load()));
  Scalar(out, "iot_gateway_mqtt_connects_total", "counter", "Successful MQTT connects",
         static_cast<double>(mqtt_connects.load()));
  Scalar(out, "iot_gateway_mqtt_connection_lost_total", "counter", "MQTT connections lost",
         static_cast<double>(mqtt_connection_lost.load()));
  Scalar(out, "iot_gateway_pauses_total", "counter", "Consumption paused (high-water mark)",
         static_cast<double>(pauses.load()));
  Scalar(out, "iot_gateway_resumes_total", "counter", "Consumption resumed (low-water mark)",
         static_cast<double>(resumes.load()));
  Scalar(out, "iot_gateway_paused", "gauge", "1 while consumption is paused",
         static_cast<double>(paused.load()));
  Scalar(out, "iot_gateway_db_retries_total", "counter", "Batches or lookups retried (PostgreSQL away)",
         static_cast<double>(db_retries.load()));
  Scalar(out, "iot_gateway_db_failed_messages_total", "counter",
         "Messages the store refused for a data reason (answered 500)",
         static_cast<double>(db_failed_messages.load()));
  Scalar(out, "iot_gateway_publish_errors_total", "counter", "Reply publishes that failed",
         static_cast<double>(publish_errors.load()));
  Scalar(out, "iot_gateway_queue_overflow_total", "counter",
         "Messages accepted above the ingress capacity (kept, never dropped)",
         static_cast<double>(overflow.load()));
  Scalar(out, "iot_gateway_batches_total", "counter", "Committed batches",
         static_cast<double>(batches.load()));
  Scalar(out, "iot_gateway_committed_messages_total", "counter", "Messages in committed batches",
         static_cast<double>(committed_messages.load()));
  if (queue_depth) {
    Scalar(out, "iot_gateway_queue_depth", "gauge", "Messages held by the gateway (all stages)",
           static_cast<double>(queue_depth()));
  }
  if (queue_capacity) {
    Scalar(out, "iot_gateway_queue_capacity", "gauge", "Ingress high-water mark",
           static_cast<double>(queue_capacity()));
  }
  batch_size.Render(out, "iot_gateway_batch_size", "Messages per committed batch");
  commit_seconds.Render(out, "iot_gateway_commit_seconds", "Batch transaction latency");
  return out;
}

}  // namespace iot::gateway

#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace iot::api {

// Prometheus metrics of the process. Components add their own counters and gauges (DB pool usage,
// WebSocket subscribers, ...) at startup; the HTTP layer records requests. Thread-safe.
class MetricsRegistry final {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Counters and gauges by name + labels; `help` is recorded on first use of a name.
  void Increment(std::string_view name, std::string_view help, const Labels& labels = {}, double by = 1.0);
  void SetGauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // A gauge read at scrape time, e.g. [&pool] { return pool.InUse(); }. Must be cheap and non-blocking.
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> read);

  // One finished HTTP request: iot_http_requests_total{route,method,status} (status class "2xx")
  // and iot_http_request_duration_seconds histogram per route+method.
  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds);

  // Connections and in-flight requests, updated by the transport.
  std::atomic<std::int64_t>& Connections() { return connections_; }
  std::atomic<std::int64_t>& InFlight() { return in_flight_; }
  std::atomic<std::uint64_t>& RefusedConnections() { return refused_connections_; }

  // The Prometheus text exposition format (version 0.0.4).
  std::string Render() const;

 private:
  struct Family {
    std::string type;  // counter | gauge
    std::string help;
    std::map<std::string, double> series;  // rendered labels -> value
  };
  struct Histogram {
    std::vector<std::uint64_t> buckets;  // cumulative counts are computed at render time
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct GaugeCallback {
    std::string name, help;
    std::function<double()> read;
  };

  Family& FamilyFor(std::string_view name, std::string_view type, std::string_view help);

  mutable std::mutex mutex_;
  std::map<std::string, Family, std::less<>> families_;
  std::map<std::string, Histogram> latency_;  // rendered labels -> histogram
  std::vector<GaugeCallback> callbacks_;
  std::atomic<std::int64_t> connections_{0};
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::uint64_t> refused_connections_{0};
};

// Renders {k="v",...} with Prometheus escaping; "" for no labels.
std::string RenderLabels(const MetricsRegistry::Labels& labels);

}  // namespace iot::api

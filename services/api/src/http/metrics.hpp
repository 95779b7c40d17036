#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "iot/common/prometheus.hpp"

namespace iot::api {

// iot-api's metrics: the registry of libs/common (the gateway keeps its metrics in the same type), plus what
// the HTTP layer records. Components add their own counters and gauges (DB pool usage, WebSocket subscribers,
// ...) at startup through the inherited Increment, SetGauge and AddGaugeCallback. Thread-safe.
class MetricsRegistry final : public metrics::Registry {
 public:
  using Labels = metrics::Labels;

  MetricsRegistry();

  // One finished HTTP request: iot_http_requests_total{route,method,status} (status class "2xx")
  // and the iot_http_request_duration_seconds histogram per route+method.
  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds);

  // Connections and in-flight requests, updated by the transport.
  std::atomic<std::int64_t>& Connections() { return connections_; }
  std::atomic<std::int64_t>& InFlight() { return in_flight_; }
  std::atomic<std::uint64_t>& RefusedConnections() { return refused_connections_; }

 private:
  std::atomic<std::int64_t>& connections_;
  std::atomic<std::int64_t>& in_flight_;
  std::atomic<std::uint64_t>& refused_connections_;
};

// Renders {k="v",...} with Prometheus escaping; "" for no labels.
using metrics::RenderLabels;

}  // namespace iot::api

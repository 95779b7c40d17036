#include "http/metrics.hpp"

#include <vector>

namespace iot::api {
namespace {

// Latency buckets in seconds (upper bounds); +Inf is implicit.
const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                      0.1,   0.25,   0.5,   1.0,  2.5,   10.0};

std::string StatusClass(int status) { return std::to_string(status / 100) + "xx"; }

}  // namespace

MetricsRegistry::MetricsRegistry()
    : metrics::Registry("api"),
      connections_(Gauge("iot_http_connections", "Open HTTP connections")),
      in_flight_(Gauge("iot_http_requests_in_flight", "Requests received and not yet answered")),
      refused_connections_(
          Counter("iot_http_connections_refused_total", "Connections closed at accept: limit reached")) {}

void MetricsRegistry::ObserveRequest(std::string_view route, std::string_view method, int status,
                                     double seconds) {
  const std::string base = RenderLabels({{"route", std::string(route)}, {"method", std::string(method)}});
  Increment(
      "iot_http_requests_total", "HTTP requests by route pattern, method and status class",
      {{"route", std::string(route)}, {"method", std::string(method)}, {"status", StatusClass(status)}});
  Observe("iot_http_request_duration_seconds", "Time from complete request to response", kBuckets, base,
          seconds);
}

}  // namespace iot::api

#include "http/metrics.hpp"

#include <catch2/catch.hpp>

TEST_CASE("Metrics: request counters by status class and latency histograms", "[api][metrics]") {
  iot::api::MetricsRegistry metrics;
  metrics.ObserveRequest("/api/v1/products/{pk}", "GET", 200, 0.003);
  metrics.ObserveRequest("/api/v1/products/{pk}", "GET", 204, 0.2);
  metrics.ObserveRequest("/api/v1/products/{pk}", "GET", 404, 0.001);
  metrics.Increment("iot_db_errors_total", "DB errors", {{"kind", "a\"b"}});
  metrics.AddGaugeCallback("iot_db_pool_in_use", "Connections in use", [] { return 3.0; });
  const std::string text = metrics.Render();
  CHECK(text.find(R"(iot_http_requests_total{route="/api/v1/products/{pk}",method="GET",status="2xx"} 2)") !=
        std::string::npos);
  CHECK(text.find(R"(status="4xx"} 1)") != std::string::npos);
  CHECK(
      text.find(
          R"(iot_http_request_duration_seconds_bucket{route="/api/v1/products/{pk}",method="GET",le="0.005"} 2)") !=
      std::string::npos);
  CHECK(text.find(R"(le="+Inf"} 3)") != std::string::npos);
  CHECK(text.find(R"(iot_db_errors_total{kind="a\"b"} 1)") != std::string::npos);
  CHECK(text.find("iot_db_pool_in_use 3\n") != std::string::npos);
  CHECK(text.find("# TYPE iot_http_request_duration_seconds histogram") != std::string::npos);
}

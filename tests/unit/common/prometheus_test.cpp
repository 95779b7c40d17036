#include "iot/common/prometheus.hpp"

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

}  // namespace

TEST_CASE("Registry: handles, labelled families, histograms, callbacks and collectors in registration order",
          "[common][metrics]") {
  iot::metrics::Registry r("unit");
  auto& hits = r.Counter("x_hits_total", "Hits");
  auto& depth = r.Gauge("x_depth", "Depth");
  auto& kinds = r.CountersBy("x_kinds_total", "kind", "By kind");
  auto& sizes = r.AddHistogram("x_size", "Sizes", {1, 10});
  hits += 3;
  depth = -2;
  kinds.Add("a\"b");
  sizes.Observe(5);
  sizes.Observe(50);
  r.Increment("x_errors_total", "Errors", {{"code", "7"}});
  r.Increment("x_errors_total", "Errors", {{"code", "7"}}, 2);
  r.SetGauge("x_level", "Level", {}, 0.5);
  r.Observe("x_latency_seconds", "Latency", {0.1, 1}, iot::metrics::RenderLabels({{"route", "/a"}}), 0.05);
  r.Observe("x_latency_seconds", "Latency", {0.1, 1}, iot::metrics::RenderLabels({{"route", "/a"}}), 2);
  r.AddGaugeCallback("x_read", "Read at scrape", [] { return 4.0; });
  r.AddGaugeCallback("x_absent", "Not shown", []() -> std::optional<double> { return std::nullopt; });
  r.AddCollector([](std::string& out) { out += "x_collected 1\n"; });

  const std::string text = r.Render();
  CHECK(Has(text, "# HELP x_hits_total Hits\n# TYPE x_hits_total counter\nx_hits_total 3\n"));
  CHECK(Has(text, "# TYPE x_depth gauge\nx_depth -2\n"));
  CHECK(Has(text, "x_kinds_total{kind=\"a\\\"b\"} 1\n"));
  CHECK(Has(text, "x_size_bucket{le=\"1\"} 0\nx_size_bucket{le=\"10\"} 1\nx_size_bucket{le=\"+Inf\"} 2\n"));
  CHECK(Has(text, "x_size_sum 55\nx_size_count 2\n"));
  CHECK(Has(text, "# TYPE x_errors_total counter\nx_errors_total{code=\"7\"} 3\n"));
  CHECK(Has(text, "x_level 0.5\n"));
  CHECK(Has(text, "# TYPE x_latency_seconds histogram\n"));
  CHECK(Has(text, "x_latency_seconds_bucket{route=\"/a\",le=\"0.1\"} 1\n"));
  CHECK(Has(text, "x_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 2\n"));
  CHECK(Has(text, "x_latency_seconds_count{route=\"/a\"} 2\n"));
  CHECK(Has(text, "x_read 4\n"));
  CHECK_FALSE(Has(text, "x_absent"));
  CHECK(Has(text, "\nx_collected 1\n"));
  CHECK(Has(text, "iot_build_info{service=\"unit\",version=\""));
  CHECK(Has(text, "process_resident_memory_bytes "));
  // Registration order, the service's own series last.
  CHECK(text.find("x_hits_total") < text.find("x_depth"));
  CHECK(text.find("x_depth") < text.find("x_kinds_total"));
  CHECK(text.find("x_read") < text.find("x_collected"));
  CHECK(text.find("x_collected") < text.find("iot_build_info"));
}

TEST_CASE("Registry: a name is one kind - handles are stable - updates from many threads add up",
          "[common][metrics]") {
  iot::metrics::Registry r;
  auto& first = r.Counter("y_total", "Y");
  CHECK(&r.Counter("y_total", "Y") == &first);
  CHECK_THROWS_AS(r.Gauge("y_total", "Y"), std::logic_error);
  r.Increment("y_by_total", "By", {{"k", "v"}});
  CHECK_THROWS_AS(r.SetGauge("y_by_total", "By", {{"k", "v"}}, 1), std::logic_error);
  CHECK(r.Render().find("iot_build_info") == std::string::npos);  // no service: no self series

  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        ++first;
        r.Observe("y_seconds", "S", {1}, "", 0.5);
        r.Increment("y_by_total", "By", {{"k", "v"}});
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  const std::string text = r.Render();
  CHECK(text.find("y_total 4000\n") != std::string::npos);
  CHECK(text.find("y_seconds_count 4000\n") != std::string::npos);
  CHECK(text.find("y_by_total{k=\"v\"} 4001\n") != std::string::npos);
}

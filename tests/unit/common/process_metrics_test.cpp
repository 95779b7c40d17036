#include "iot/common/process_metrics.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "iot/common/prometheus.hpp"

namespace m = iot::metrics;

TEST_CASE("Process metrics: /proc/<pid>/stat is parsed, comm with spaces and parentheses included",
          "[common][metrics]") {
  // Fields 14/15 utime/stime = 250/150 ticks, 20 threads = 7, 22 starttime = 1000 ticks, 23 vsize, 24 rss
  // pages.
  const std::string stat =
      "4242 (iot (gw) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 1000 123456789 "
      "300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  m::ProcessSample s;
  REQUIRE(m::ParseProcStat(stat, 100, 4096, 1700000000, s));
  CHECK(s.cpu_seconds == Approx(4.0));
  CHECK(s.threads == 7);
  CHECK(s.start_time_seconds == Approx(1700000010.0));
  CHECK(s.virtual_bytes == 123456789);
  CHECK(s.resident_bytes == 300 * 4096);
  CHECK_FALSE(m::ParseProcStat("garbage", 100, 4096, 0, s));
  CHECK_FALSE(m::ParseProcStat("1 (x) S 1 2", 100, 4096, 0, s));
  CHECK_FALSE(m::ParseProcStat(stat, 0, 4096, 0, s));
}

TEST_CASE("Process metrics: btime from /proc/stat", "[common][metrics]") {
  CHECK(m::ParseBootTime("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n") == 1700000000);
  CHECK(m::ParseBootTime("cpu 1\n") == 0);
  CHECK(m::ParseBootTime("btime x\n") == 0);
}

TEST_CASE("Process metrics: the standard process_* names and iot_build_info", "[common][metrics]") {
  m::ProcessSample s;
  s.cpu_seconds = 1.5;
  s.open_fds = 12;
  const std::string text = m::RenderProcess(s);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n") !=
        std::string::npos);
  CHECK(text.find("\nprocess_open_fds 12\n") != std::string::npos);
  for (const char* name : {"process_resident_memory_bytes ", "process_virtual_memory_bytes ",
                           "process_start_time_seconds ", "process_max_fds ", "process_threads "}) {
    CHECK(text.find(std::string("\n") + name) != std::string::npos);
  }
  const std::string info = m::RenderBuildInfo("gateway");
  CHECK(info.find("iot_build_info{service=\"gateway\",version=\"" + std::string(m::Version()) +
                  "\",commit=\"" + std::string(m::Commit()) + "\"} 1\n") != std::string::npos);
  CHECK_FALSE(m::Version().empty());
  CHECK_FALSE(m::Commit().empty());
}

TEST_CASE("Process metrics: this process reads as alive - CPU, memory, descriptors, start time",
          "[common][metrics]") {
  const m::ProcessSample s = m::SampleSelf();
  CHECK(s.resident_bytes > 0);
  CHECK(s.virtual_bytes >= s.resident_bytes);
  CHECK(s.open_fds >= 3);  // stdin, stdout, stderr
  CHECK(s.max_fds >= s.open_fds);
  CHECK(s.threads >= 1);
  CHECK(s.start_time_seconds > 1.6e9);
  volatile double burn = 0;
  for (int i = 0; i < 20000000; ++i) {
    burn = burn + i * 0.5;
  }
  CHECK(m::SampleSelf().cpu_seconds > 0);
}

TEST_CASE("Process metrics: label values escape backslash, quote and newline", "[common][metrics]") {
  CHECK(iot::metrics::EscapeLabelValue("plain") == "plain");
  CHECK(iot::metrics::EscapeLabelValue("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
}

TEST_CASE("Prometheus text: labels escaped, values, headers, histograms", "[common][metrics]") {
  using namespace iot::metrics;
  CHECK(RenderLabels({}).empty());
  CHECK(RenderLabels({{"route", "/a\"b"}, {"method", "GET"}}) == "{route=\"/a\\\"b\",method=\"GET\"}");
  CHECK(WithLabel("", "le=\"1\"") == "{le=\"1\"}");
  CHECK(WithLabel("{a=\"x\"}", "le=\"1\"") == "{a=\"x\",le=\"1\"}");
  std::string out;
  AppendScalar(out, "x_total", "counter", "Things", std::uint64_t{12345678901234});
  AppendSample(out, "y", "{k=\"v\"}", 0.1);
  AppendSample(out, "z", "", -3);
  CHECK(out ==
        "# HELP x_total Things\n# TYPE x_total counter\nx_total 12345678901234\ny{k=\"v\"} 0.1\nz -3\n");

  Histogram h({0.1, 1});
  h.Observe(0.05);
  h.Observe(0.1);
  h.Observe(5);
  out.clear();
  h.Append(out, "lat", "Latency");
  CHECK(out ==
        "# HELP lat Latency\n# TYPE lat histogram\n"
        "lat_bucket{le=\"0.1\"} 2\nlat_bucket{le=\"1\"} 2\nlat_bucket{le=\"+Inf\"} 3\n"
        "lat_sum 5.15\nlat_count 3\n");
  out.clear();
  h.AppendSeries(out, "lat", "{route=\"/x\"}");
  CHECK(out.starts_with("lat_bucket{route=\"/x\",le=\"0.1\"} 2\n"));
  CHECK(out.ends_with("lat_count{route=\"/x\"} 3\n"));
}

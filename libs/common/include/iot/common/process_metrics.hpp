#pragma once

#include <string>
#include <string_view>

// What every service shows on /metrics about itself: iot_build_info and the standard process_* series
// (the names Prometheus' client libraries use, so stock dashboards and alerts apply).
namespace iot::metrics {

struct ProcessSample {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;  // since the Unix epoch
  double open_fds = 0;
  double max_fds = 0;  // soft RLIMIT_NOFILE
  double threads = 0;
};

// Parses /proc/<pid>/stat (the comm field may hold spaces and parentheses). `boot_time_s` is /proc/stat's
// btime. False when the text is not a stat line.
bool ParseProcStat(std::string_view stat, long ticks_per_second, long page_size, double boot_time_s,
                   ProcessSample& out);
// /proc/stat's "btime <seconds>" line; 0 when absent.
double ParseBootTime(std::string_view proc_stat);

// The Prometheus text of a sample (process_cpu_seconds_total, process_resident_memory_bytes, ...).
std::string RenderProcess(const ProcessSample& sample);
// iot_build_info{service,version,commit} 1.
std::string RenderBuildInfo(std::string_view service);
// The project's version and the git commit it was built from ("unknown" outside a git checkout).
std::string_view Version();
std::string_view Commit();

// A Prometheus label value with `\`, `"` and newline escaped, as the text format requires.
std::string EscapeLabelValue(std::string_view value);

// Reads /proc/self (Linux): the process metrics now. Fields it cannot read stay 0.
ProcessSample SampleSelf();
// RenderBuildInfo(service) + RenderProcess(SampleSelf()): what a service appends to its /metrics.
std::string RenderSelf(std::string_view service);

}  // namespace iot::metrics

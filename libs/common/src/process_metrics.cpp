#include "iot/common/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#ifndef IOT_VERSION
#define IOT_VERSION "unknown"
#endif
#ifndef IOT_GIT_COMMIT
#define IOT_GIT_COMMIT "unknown"
#endif

namespace iot::metrics {
namespace {

// Fields of /proc/<pid>/stat after the closing parenthesis of comm, numbered as in proc(5).
constexpr std::size_t kUtime = 14, kStime = 15, kThreads = 20, kStartTime = 22, kVsize = 23, kRss = 24;

bool ToDouble(std::string_view text, double& out) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return false;
  }
  out = static_cast<double>(value);
  return true;
}

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Line(std::string& out, const char* name, const char* type, const char* help, double value) {
  char number[64];
  std::snprintf(number, sizeof number, "%.17g", value);
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
  out += name;
  out += ' ';
  out += number;
  out += '\n';
}

}  // namespace

bool ParseProcStat(std::string_view stat, long ticks_per_second, long page_size, double boot_time_s,
                   ProcessSample& out) {
  const auto close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) {
    return false;
  }
  // Field 3 (state) starts after ") ".
  std::vector<std::string_view> fields;
  std::size_t pos = close + 1;
  while (pos < stat.size()) {
    while (pos < stat.size() && (stat[pos] == ' ' || stat[pos] == '\n')) {
      ++pos;
    }
    const std::size_t start = pos;
    while (pos < stat.size() && stat[pos] != ' ' && stat[pos] != '\n') {
      ++pos;
    }
    if (pos > start) {
      fields.push_back(stat.substr(start, pos - start));
    }
  }
  auto field = [&](std::size_t number, double& value) {
    return number >= 3 && number - 3 < fields.size() && ToDouble(fields[number - 3], value);
  };
  double utime = 0, stime = 0, threads = 0, start = 0, vsize = 0, rss = 0;
  if (!field(kUtime, utime) || !field(kStime, stime) || !field(kThreads, threads) ||
      !field(kStartTime, start) || !field(kVsize, vsize) || !field(kRss, rss)) {
    return false;
  }
  const double ticks = static_cast<double>(ticks_per_second);
  out.cpu_seconds = (utime + stime) / ticks;
  out.threads = threads;
  out.start_time_seconds = boot_time_s + start / ticks;
  out.virtual_bytes = vsize;
  out.resident_bytes = rss * static_cast<double>(page_size);
  return true;
}

double ParseBootTime(std::string_view proc_stat) {
  std::size_t pos = 0;
  while (pos < proc_stat.size()) {
    std::size_t end = proc_stat.find('\n', pos);
    if (end == std::string_view::npos) {
      end = proc_stat.size();
    }
    const std::string_view line = proc_stat.substr(pos, end - pos);
    if (line.starts_with("btime ")) {
      double value = 0;
      return ToDouble(line.substr(6), value) ? value : 0;
    }
    pos = end + 1;
  }
  return 0;
}

std::string RenderProcess(const ProcessSample& s) {
  std::string out;
  out.reserve(1024);
  Line(out, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.",
       s.cpu_seconds);
  Line(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", s.resident_bytes);
  Line(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", s.virtual_bytes);
  Line(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
       s.start_time_seconds);
  Line(out, "process_open_fds", "gauge", "Number of open file descriptors.", s.open_fds);
  Line(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", s.max_fds);
  Line(out, "process_threads", "gauge", "Number of OS threads in the process.", s.threads);
  return out;
}

std::string_view Version() { return IOT_VERSION; }
std::string_view Commit() { return IOT_GIT_COMMIT; }

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
    }
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string RenderBuildInfo(std::string_view service) {
  return "# HELP iot_build_info The service, its version and the git commit it was built from (always 1).\n"
         "# TYPE iot_build_info gauge\n"
         "iot_build_info{service=\"" +
         EscapeLabelValue(service) + "\",version=\"" + EscapeLabelValue(Version()) + "\",commit=\"" +
         EscapeLabelValue(Commit()) + "\"} 1\n";
}

ProcessSample SampleSelf() {
  ProcessSample sample;
  ParseProcStat(ReadFile("/proc/self/stat"), sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE),
                ParseBootTime(ReadFile("/proc/stat")), sample);
  if (DIR* dir = opendir("/proc/self/fd")) {
    int count = 0;
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') {
        ++count;
      }
    }
    closedir(dir);
    sample.open_fds = count - 1;  // not the descriptor of the listing itself
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    sample.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return sample;
}

std::string RenderSelf(std::string_view service) {
  return RenderBuildInfo(service) + RenderProcess(SampleSelf());
}

}  // namespace iot::metrics

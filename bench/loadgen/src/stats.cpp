#include "stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

namespace iot::loadgen {

nlohmann::json LatencySamples::SummaryMs() {
  nlohmann::json j;
  j["count"] = us_.size();
  if (us_.empty()) {
    return j;
  }
  std::sort(us_.begin(), us_.end());
  auto at = [&](double q) {
    const auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us_.size()))) - 1;
    return static_cast<double>(us_[std::min(idx, us_.size() - 1)]) / 1000.0;
  };
  double sum = 0;
  for (auto v : us_) {
    sum += v;
  }
  auto round3 = [](double v) { return std::round(v * 1000.0) / 1000.0; };
  j["p50"] = round3(at(0.50));
  j["p90"] = round3(at(0.90));
  j["p99"] = round3(at(0.99));
  j["max"] = round3(static_cast<double>(us_.back()) / 1000.0);
  j["mean"] = round3(sum / static_cast<double>(us_.size()) / 1000.0);
  return j;
}

std::int64_t SelfCpuUs() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (static_cast<std::int64_t>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1'000'000 +
         ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

namespace {

// Fields of /proc/<pid>/stat after the parenthesised command name (which may contain spaces): state
// is field 3, ppid 4, utime 14, stime 15, cutime 16, cstime 17 (clock ticks).
struct ProcStat {
  int ppid = 0;
  long long utime = 0, stime = 0, cutime = 0, cstime = 0;
};

bool ReadProcStat(int pid, ProcStat& out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) {
    return false;
  }
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 > line.size()) {
    return false;
  }
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  try {
    for (int i = 3; i <= 17 && rest >> field; ++i) {
      if (i == 4) {
        out.ppid = std::stoi(field);
      }
      if (i == 14) {
        out.utime = std::stoll(field);
      }
      if (i == 15) {
        out.stime = std::stoll(field);
      }
      if (i == 16) {
        out.cutime = std::stoll(field);
      }
      if (i == 17) {
        out.cstime = std::stoll(field);
      }
    }
  } catch (...) {
    return false;
  }
  return true;
}

std::int64_t TicksToUs(long long ticks) {
  static const long kTicks = ::sysconf(_SC_CLK_TCK);
  return ticks * 1'000'000 / kTicks;
}

}  // namespace

std::int64_t ProcessCpuUs(const std::vector<int>& pids) {
  std::int64_t total = 0;
  for (int pid : pids) {
    ProcStat st;
    if (ReadProcStat(pid, st)) {
      total += TicksToUs(st.utime + st.stime);
    }
  }
  return total;
}

std::int64_t ProcessTreeCpuUs(const std::vector<int>& roots) {
  if (roots.empty()) {
    return 0;
  }
  // One pass over /proc: parent of every process, then the descendants of each root.
  std::map<int, std::vector<int>> children;
  std::map<int, ProcStat> stats;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const int pid = std::atoi(name.c_str());
    ProcStat st;
    if (!ReadProcStat(pid, st)) {
      continue;
    }
    children[st.ppid].push_back(pid);
    stats[pid] = st;
  }
  std::int64_t total = 0;
  for (int root : roots) {
    auto it = stats.find(root);
    if (it == stats.end()) {
      continue;
    }
    total += TicksToUs(it->second.utime + it->second.stime + it->second.cutime + it->second.cstime);
    std::vector<int> todo = children[root];
    while (!todo.empty()) {
      const int pid = todo.back();
      todo.pop_back();
      // A live descendant: its own time plus what it reaped (not yet in the root's cutime).
      const ProcStat& st = stats[pid];
      total += TicksToUs(st.utime + st.stime + st.cutime + st.cstime);
      for (int c : children[pid]) {
        todo.push_back(c);
      }
    }
  }
  return total;
}

std::int64_t SampledCpuUs(const SampledProcess& p) {
  return ProcessCpuUs(p.pids) + ProcessTreeCpuUs(p.tree_roots);
}

bool ParseSampledProcess(const std::string& spec, SampledProcess& out) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    return false;
  }
  out.name = spec.substr(0, eq);
  out.pids.clear();
  out.tree_roots.clear();
  std::istringstream list(spec.substr(eq + 1));
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item.empty()) {
      continue;
    }
    const bool tree = item[0] == '+';
    try {
      std::size_t used = 0;
      const int pid = std::stoi(item.substr(tree ? 1 : 0), &used);
      if (used != item.size() - (tree ? 1 : 0) || pid <= 0) {
        return false;
      }
      (tree ? out.tree_roots : out.pids).push_back(pid);
    } catch (...) {
      return false;
    }
  }
  return !out.pids.empty() || !out.tree_roots.empty();
}

std::uint64_t RaiseFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return 0;
  }
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

}  // namespace iot::loadgen

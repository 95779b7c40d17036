#include "stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace iot::loadgen {

nlohmann::json LatencySamples::SummaryMs() {
  nlohmann::json j;
  j["count"] = us_.size();
  if (us_.empty()) return j;
  std::sort(us_.begin(), us_.end());
  auto at = [&](double q) {
    const auto idx = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us_.size()))) - 1;
    return static_cast<double>(us_[std::min(idx, us_.size() - 1)]) / 1000.0;
  };
  double sum = 0;
  for (auto v : us_) sum += v;
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

std::int64_t ProcessCpuUs(const std::vector<int>& pids) {
  static const long kTicks = ::sysconf(_SC_CLK_TCK);
  std::int64_t total = 0;
  for (int pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // Fields after the parenthesised command name (which may contain spaces): state is field 3,
    // utime 14, stime 15.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoll(field);
      if (i == 15) stime = std::stoll(field);
    }
    total += (utime + stime) * 1'000'000 / kTicks;
  }
  return total;
}

bool ParseSampledProcess(const std::string& spec, SampledProcess& out) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  out.name = spec.substr(0, eq);
  out.pids.clear();
  std::istringstream list(spec.substr(eq + 1));
  std::string item;
  while (std::getline(list, item, ',')) {
    if (item.empty()) continue;
    try {
      out.pids.push_back(std::stoi(item));
    } catch (...) {
      return false;
    }
  }
  return !out.pids.empty();
}

std::uint64_t RaiseFileLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

}  // namespace iot::loadgen

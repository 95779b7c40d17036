#pragma once

// Measurement helpers: latency samples with exact percentiles, CPU time of this process (getrusage)
// and of other processes (/proc/<pid>/stat), and the file-descriptor limit.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace iot::loadgen {

// Samples in microseconds; percentiles computed exactly by sorting at the end (a few MB at most).
class LatencySamples {
 public:
  void Add(std::int64_t ns) { us_.push_back(static_cast<std::uint32_t>(ns < 0 ? 0 : ns / 1000)); }
  void Merge(const LatencySamples& other) { us_.insert(us_.end(), other.us_.begin(), other.us_.end()); }
  void Reserve(std::size_t n) { us_.reserve(n); }
  std::size_t Count() const { return us_.size(); }
  // {"count","p50","p90","p99","max","mean"} in milliseconds (3 decimals). Sorts the samples.
  nlohmann::json SummaryMs();

 private:
  std::vector<std::uint32_t> us_;
};

// User + system CPU of this process in microseconds.
std::int64_t SelfCpuUs();

// User + system CPU of the listed processes in microseconds (from /proc/<pid>/stat; a vanished
// process counts 0). Resolution is the kernel's clock tick (10 ms).
std::int64_t ProcessCpuUs(const std::vector<int>& pids);

// CPU of a process tree: the root, its live children, and (cutime + cstime) the children it has
// already reaped (PostgreSQL's postmaster and its backends, autovacuum workers that came and went).
std::int64_t ProcessTreeCpuUs(const std::vector<int>& roots);

// A named group of processes whose CPU the generator samples at phase boundaries ("broker=1234",
// "postgres=1,2,3"; "postgres=+1234" for the tree under 1234, see ProcessTreeCpuUs).
struct SampledProcess {
  std::string name;
  std::vector<int> pids;
  std::vector<int> tree_roots;
};
// Sum of both kinds.
std::int64_t SampledCpuUs(const SampledProcess& p);
bool ParseSampledProcess(const std::string& spec, SampledProcess& out);

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit.
std::uint64_t RaiseFileLimit();

}  // namespace iot::loadgen

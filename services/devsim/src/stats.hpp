#pragma once

// Counters and post->reply latencies of a simulation run, safe to update from SDK callbacks.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iot/device/types.hpp"

namespace iot::devsim {

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // milliseconds
  std::size_t count = 0;
};

// Nearest-rank percentiles of `samples_us` (sorted in place).
Percentiles ComputePercentiles(std::vector<std::uint32_t>& samples_us);

class Stats {
 public:
  explicit Stats(std::size_t max_samples = 1'000'000) : max_samples_(max_samples) {}

  // One post ended (reply, timeout or stop).
  void Record(const device::Reply& reply);
  void Sent() { sent_.fetch_add(1, std::memory_order_relaxed); }
  void InvalidSent() { invalid_sent_.fetch_add(1, std::memory_order_relaxed); }
  void WindowFull() { window_full_.fetch_add(1, std::memory_order_relaxed); }
  void Downlink() { downlinks_.fetch_add(1, std::memory_order_relaxed); }
  void DownlinkAnswered() { downlinks_answered_.fetch_add(1, std::memory_order_relaxed); }

  std::uint64_t sent() const { return sent_.load(); }
  std::uint64_t answered() const { return answered_.load(); }
  std::uint64_t refused() const { return refused_posts_.load(); }
  std::uint64_t timeouts() const { return timeouts_.load(); }
  std::uint64_t window_full() const { return window_full_.load(); }
  // Latencies so far (copy).
  Percentiles Latency() const;
  // Latencies recorded since the previous call (for the progress line).
  Percentiles TakeRecentLatency();

  nlohmann::json Summary(double seconds, std::size_t devices, std::size_t connected,
                         std::uint64_t resends) const;

 private:
  std::size_t max_samples_;
  std::atomic<std::uint64_t> sent_{0}, invalid_sent_{0}, answered_{0}, accepted_{0}, refused_posts_{0},
      refused_items_{0}, timeouts_{0}, stopped_{0}, window_full_{0}, downlinks_{0}, downlinks_answered_{0};
  mutable std::mutex mutex_;
  std::vector<std::uint32_t> samples_;  // µs; reservoir-sampled above max_samples_
  std::vector<std::uint32_t> recent_;
  std::uint64_t seen_ = 0;
  std::uint32_t max_us_ = 0;
  std::map<int, std::uint64_t> refusals_by_code_;
  std::mt19937_64 rng_{42};
};

}  // namespace iot::devsim

#include "stats.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace iot::devsim {

Percentiles ComputePercentiles(std::vector<std::uint32_t>& samples) {
  Percentiles p;
  p.count = samples.size();
  if (samples.empty()) {
    return p;
  }
  std::sort(samples.begin(), samples.end());
  auto rank = [&](double q) {
    const auto n = static_cast<double>(samples.size());
    std::size_t i = static_cast<std::size_t>(std::ceil(q * n));
    i = std::clamp<std::size_t>(i, 1, samples.size());
    return samples[i - 1] / 1000.0;
  };
  p.p50 = rank(0.50);
  p.p90 = rank(0.90);
  p.p99 = rank(0.99);
  p.max = samples.back() / 1000.0;
  return p;
}

void Stats::Record(const device::Reply& reply) {
  if (reply.outcome == device::Outcome::kStopped) {
    stopped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (reply.outcome != device::Outcome::kReplied) {
    timeouts_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  answered_.fetch_add(1, std::memory_order_relaxed);
  const bool refused = reply.code != 200 || !reply.refusals.empty();
  if (refused) {
    refused_posts_.fetch_add(1, std::memory_order_relaxed);
  } else {
    accepted_.fetch_add(1, std::memory_order_relaxed);
  }
  const auto us = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(reply.latency.count(), 0, std::numeric_limits<std::uint32_t>::max()));
  std::lock_guard lock(mutex_);
  if (reply.code != 200) {
    ++refusals_by_code_[reply.code];
  } else {
    for (const auto& r : reply.refusals) {
      ++refusals_by_code_[r.code];
    }
  }
  refused_items_ += reply.code != 200 ? 1 : reply.refusals.size();
  max_us_ = std::max(max_us_, us);
  ++seen_;
  if (samples_.size() < max_samples_) {
    samples_.push_back(us);
  } else {
    const auto j = std::uniform_int_distribution<std::uint64_t>(0, seen_ - 1)(rng_);
    if (j < samples_.size()) {
      samples_[j] = us;
    }
  }
  if (recent_.size() < 100000) {
    recent_.push_back(us);
  }
}

Percentiles Stats::Latency() const {
  std::vector<std::uint32_t> copy;
  std::uint32_t max_us = 0;
  {
    std::lock_guard lock(mutex_);
    copy = samples_;
    max_us = max_us_;
  }
  Percentiles p = ComputePercentiles(copy);
  p.max = max_us / 1000.0;  // exact even when sampled
  return p;
}

Percentiles Stats::TakeRecentLatency() {
  std::vector<std::uint32_t> recent;
  {
    std::lock_guard lock(mutex_);
    recent.swap(recent_);
  }
  return ComputePercentiles(recent);
}

nlohmann::json Stats::Summary(double seconds, std::size_t devices, std::size_t connected,
                              std::uint64_t resends) const {
  const Percentiles p = Latency();
  nlohmann::json by_code = nlohmann::json::object();
  std::uint64_t refused_items = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [code, n] : refusals_by_code_) {
      by_code[std::to_string(code)] = n;
    }
    refused_items = refused_items_;
  }
  const double rate = seconds > 0 ? static_cast<double>(answered_.load()) / seconds : 0;
  return {
      {"devices", devices},
      {"connected", connected},
      {"durationS", std::round(seconds * 1000) / 1000},
      {"sent", sent_.load()},
      {"invalidSent", invalid_sent_.load()},
      {"answered", answered_.load()},
      {"accepted", accepted_.load()},
      {"refused", refused_posts_.load()},
      {"refusedItems", refused_items},
      {"timeouts", timeouts_.load()},
      {"unfinished", stopped_.load()},
      {"windowFull", window_full_.load()},
      {"resends", resends},
      {"achievedRate", std::round(rate * 10) / 10},
      {"latencyMs", {{"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}}},
      {"refusalsByCode", by_code},
      {"downlinks", {{"received", downlinks_.load()}, {"answered", downlinks_answered_.load()}}},
  };
}

}  // namespace iot::devsim

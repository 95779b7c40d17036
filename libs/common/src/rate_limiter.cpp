#include "iot/common/rate_limiter.hpp"

#include <algorithm>

namespace iot {

bool DeviceRateLimiter::Allow(std::string_view device_key, std::int64_t now_ms) {
  if (rate_ <= 0) {
    return true;
  }
  auto it = buckets_.find(std::string(device_key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_devices_) {
      Sweep(now_ms);
    }
    it = buckets_.emplace(std::string(device_key), Bucket{burst_, now_ms}).first;
  }
  Bucket& b = it->second;
  if (now_ms > b.last_ms) {
    b.tokens = std::min(burst_, b.tokens + rate_ * static_cast<double>(now_ms - b.last_ms) / 1000.0);
    b.last_ms = now_ms;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  return false;
}

bool DeviceRateLimiter::Exhausted(std::string_view device_key, std::int64_t now_ms) const {
  if (rate_ <= 0) {
    return false;
  }
  const auto it = buckets_.find(std::string(device_key));
  if (it == buckets_.end()) {
    return false;
  }
  const Bucket& b = it->second;
  const double elapsed = now_ms > b.last_ms ? static_cast<double>(now_ms - b.last_ms) : 0.0;
  return std::min(burst_, b.tokens + rate_ * elapsed / 1000.0) < 1.0;
}

void DeviceRateLimiter::Sweep(std::int64_t now_ms) {
  // A bucket that would be full by now carries no information: drop it.
  const auto full_after_ms = static_cast<std::int64_t>(burst_ / rate_ * 1000.0) + 1;
  std::erase_if(buckets_, [&](const auto& entry) { return now_ms - entry.second.last_ms >= full_after_ms; });
  if (buckets_.size() >= max_devices_) {
    buckets_.clear();
  }
}

}  // namespace iot

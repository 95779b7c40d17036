#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace iot {

// Per-device token buckets (rate per second, burst = one second's worth). Not thread-safe: the
// gateway gives each shard worker its own, iot-api guards one with a mutex. Bounded: when
// `max_devices` buckets exist, idle full buckets are swept, and if that frees nothing the map is
// reset (a reset only forgives, never punishes).
class DeviceRateLimiter {
 public:
  DeviceRateLimiter(double per_second, std::size_t max_devices = 100000)
      : rate_(per_second), burst_(per_second < 1 ? 1 : per_second), max_devices_(max_devices) {}
  // With an explicit burst (bucket size), e.g. 60 failures at once, refilled at one per second.
  DeviceRateLimiter(double per_second, double burst, std::size_t max_devices)
      : rate_(per_second), burst_(burst < 1 ? 1 : burst), max_devices_(max_devices) {}

  // True when the device may send one more message at `now_ms`. A rate <= 0 disables limiting.
  bool Allow(std::string_view device_key, std::int64_t now_ms);
  // True when Allow would refuse at `now_ms` (spends nothing).
  bool Exhausted(std::string_view device_key, std::int64_t now_ms) const;

  std::size_t Size() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    std::int64_t last_ms = 0;
  };
  void Sweep(std::int64_t now_ms);

  double rate_;
  double burst_;
  std::size_t max_devices_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace iot

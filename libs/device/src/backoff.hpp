#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace iot::device {

// Reconnect delays: doubling from `min` up to `max`, each spread by +-`jitter` so that many devices
// cut off by one broker restart do not all come back in the same instant.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, double jitter = 0.2,
          std::uint32_t seed = 1);
  std::chrono::milliseconds Next();
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }

 private:
  std::chrono::milliseconds min_, max_;
  double jitter_;
  int failures_ = 0;
  std::minstd_rand rng_;
};

}  // namespace iot::device

#include "backoff.hpp"

#include <algorithm>

namespace iot::device {

Backoff::Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, double jitter,
                 std::uint32_t seed)
    : min_(std::max<std::chrono::milliseconds>(min, std::chrono::milliseconds(1))),
      max_(std::max(max, min_)),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      rng_(seed == 0 ? 1 : seed) {}

std::chrono::milliseconds Backoff::Next() {
  double base = static_cast<double>(min_.count());
  for (int i = 0; i < failures_ && base < static_cast<double>(max_.count()); ++i) {
    base *= 2;
  }
  base = std::min(base, static_cast<double>(max_.count()));
  ++failures_;
  std::uniform_real_distribution<double> spread(1.0 - jitter_, 1.0 + jitter_);
  const double delay = std::min(base * spread(rng_), static_cast<double>(max_.count()));
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(delay)));
}

}  // namespace iot::device

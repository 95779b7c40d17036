#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "directory.hpp"
#include "iot/common/log.hpp"
#include "metrics.hpp"
#include "iot/common/rate_limiter.hpp"
#include "work.hpp"

// Decodes and validates one MQTT message into Work (what to store, what else to do, what to answer).
// Pure with respect to I/O except the directory lookups: no database writes, no publishing.
namespace iot::gateway {

struct HandlerSettings {
  double rate_per_second = 100;       // per-device uplink limit; <= 0 disables
  std::size_t max_batch_samples = 1000;  // batch/history post: samples per message (6106 above)
};

enum class HandleStatus {
  kWork,    // `out` holds the work (possibly only a reply)
  kIgnore,  // nothing to do (downlinks seen through the shared filter, unparsable lifecycle, ...)
  kRetry,   // the directory is unavailable (PostgreSQL away): call again later with the same message
};

// 64-bit FNV-1a of the raw payload (the dedupe key's hash; same definition as store::PayloadHash).
std::uint64_t Fnv1a64(std::string_view payload);

// One per shard worker (owns that shard's rate limiter; not thread-safe).
class Handler {
 public:
  Handler(Directory& directory, Metrics& metrics, HandlerSettings settings);

  // `now_ms` is wall-clock epoch ms (validation of device times, NTP); the rate limiter uses it too.
  HandleStatus Handle(const InboundMessage& in, TimeMs now_ms, Work& out);

 private:
  Directory& directory_;
  Metrics& metrics_;
  HandlerSettings settings_;
  iot::DeviceRateLimiter limiter_;
  log::RateLimiter noise_{std::chrono::seconds(5)};
};

}  // namespace iot::gateway

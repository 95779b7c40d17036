#pragma once

#include <chrono>
#include <cstdint>

namespace iot {

// Wall-clock milliseconds since the Unix epoch: the one clock every stored or reported timestamp is read
// from (received_at, requestedAt/sentAt, token expiry, log lines), so two readings taken in order in one
// process never come out reversed. Durations and deadlines use std::chrono::steady_clock instead.
inline std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace iot

#pragma once

#include <cstddef>

namespace iot::gateway {

// Hysteresis between a high- and a low-water mark of the number of messages the gateway holds
// (ingress queues + worker + writer). Above high: pause consumption (disconnect; the broker keeps
// the persistent session and queues for it). At or below low: resume. Pure: the MQTT side acts.
class FlowControl {
 public:
  enum class Action { kNone, kPause, kResume };

  FlowControl(std::size_t high_water, std::size_t low_water) : high_(high_water), low_(low_water) {}

  // Reports the current depth; returns what to do (once per transition).
  Action Update(std::size_t depth) {
    if (!paused_ && depth >= high_) {
      paused_ = true;
      ++pauses_;
      return Action::kPause;
    }
    if (paused_ && depth <= low_) {
      paused_ = false;
      return Action::kResume;
    }
    return Action::kNone;
  }

  bool Paused() const { return paused_; }
  std::size_t Pauses() const { return pauses_; }
  std::size_t HighWater() const { return high_; }
  std::size_t LowWater() const { return low_; }

 private:
  std::size_t high_;
  std::size_t low_;
  bool paused_ = false;
  std::size_t pauses_ = 0;
};

}  // namespace iot::gateway

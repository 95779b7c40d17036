#pragma once

// Threads of the device SDK, shareable by many devices (the simulator runs thousands on one).
//
// Why it exists: Paho MQTT C delivers every callback of every client in the process on ONE thread.
// Application code must never run there: a handler that calls Device::PostProperties() (which waits
// for the reply) would block the very thread that has to deliver that reply, a deadlock. So the SDK's
// Paho callbacks only parse and enqueue; handlers and completion callbacks run on the Runtime's
// workers, and timers (resends, reconnects) run on its timer thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>

namespace iot::device {

struct RuntimeOptions {
  int workers = 1;                     // threads running handlers and completion callbacks
  std::size_t queue_limit = 10000;     // queued handler calls; above it a downlink is answered 429
  std::chrono::milliseconds tick{20};  // resend / reconnect check interval
};

class Runtime {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Runtime(RuntimeOptions options = {});
  // Runs what is queued (so every request's completion callback runs), then stops the threads;
  // delayed tasks not yet due are dropped.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs `task` on a worker. False (and nothing queued) when the queue is full or stopping.
  bool Post(std::function<void()> task);
  // Runs `task` on a worker after `delay` (same limit).
  bool PostAfter(std::chrono::milliseconds delay, std::function<void()> task);
  // Queued even above the limit: for completions of requests, which the in-flight windows bound.
  void PostAlways(std::function<void()> task);
  // Called on the timer thread every tick until it returns false. Must not block.
  void AddTicker(std::function<bool(TimePoint)> ticker);

  std::size_t Queued() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the threads (see ~Runtime)
};

}  // namespace iot::device

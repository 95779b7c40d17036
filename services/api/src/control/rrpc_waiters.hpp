#pragma once

// The HTTP calls waiting for a device's RRPC answer, by message id, with their deadlines and the timer
// that ends the unanswered ones. Shared by sync services (ControlService) and custom RRPC
// (MessageService). `W` has a `deadline` (steady_clock::time_point) member.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace iot::api {

template <class W>
class RrpcWaiters {
 public:
  // Registers `waiter` under `id`; false once Stop() was called (the caller answers "shutting down").
  bool Add(const std::string& id, W waiter) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        return false;
      }
      deadlines_.emplace(waiter.deadline, id);
      waiters_.emplace(id, std::move(waiter));
    }
    cv_.notify_one();
    return true;
  }

  // The waiter of `id` (removed), when there is one and `match` accepts it.
  template <class Match>
  std::optional<W> TakeIf(const std::string& id, Match match) {
    std::lock_guard lock(mutex_);
    auto it = waiters_.find(id);
    if (it == waiters_.end() || !match(it->second)) {
      return std::nullopt;
    }
    W waiter = std::move(it->second);
    waiters_.erase(it);
    auto range = deadlines_.equal_range(waiter.deadline);
    for (auto d = range.first; d != range.second; ++d) {
      if (d->second == id) {
        deadlines_.erase(d);
        break;
      }
    }
    return waiter;
  }
  std::optional<W> Take(const std::string& id) {
    return TakeIf(id, [](const W&) { return true; });
  }

  // The timer thread's loop: calls `expired(id)` (without the lock) for every deadline that passed, until
  // Stop(). `expired` takes the waiter itself (it may have been answered meanwhile).
  void RunTimer(const std::function<void(const std::string&)>& expired) {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (deadlines_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto next = deadlines_.begin()->first;
      if (std::chrono::steady_clock::now() < next) {
        cv_.wait_until(lock, next);
        continue;
      }
      std::string id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());  // Take() finds no deadline left to erase: fine
      lock.unlock();
      expired(id);
      lock.lock();
    }
  }

  // Ends RunTimer and refuses further Add()s; returns the waiters left (empty on a second call).
  std::unordered_map<std::string, W> Stop() {
    std::unordered_map<std::string, W> left;
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      left.swap(waiters_);
      deadlines_.clear();
    }
    cv_.notify_all();
    return left;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::unordered_map<std::string, W> waiters_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> deadlines_;
  bool stopping_ = false;
};

}  // namespace iot::api

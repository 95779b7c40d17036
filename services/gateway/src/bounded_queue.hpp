#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

namespace iot::gateway {

// A FIFO with a capacity. Producers choose how to meet a full queue:
//   * TryPush / ForcePush for the Paho callback, which must never block and never drop (Paho already
//     acknowledged the message): it pushes anyway and the flow controller pauses consumption;
//   * Push blocks, for internal stages (worker -> writer), which is how back-pressure travels upstream.
template <class T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}

  // Never blocks; pushes even above capacity. Returns the depth after the push.
  std::size_t ForcePush(T value) {
    std::size_t depth;
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
      depth = items_.size();
    }
    not_empty_.notify_one();
    return depth;
  }

  // Blocks while full; false when closed.
  bool Push(T value) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) {
      return false;
    }
    items_.push_back(std::move(value));
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  // Waits up to `timeout` for one item; nullopt on timeout or when closed and empty.
  std::optional<T> Pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); })) {
      return std::nullopt;
    }
    if (items_.empty()) {
      return std::nullopt;
    }
    T value = std::move(items_.front());
    items_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return value;
  }

  // Moves up to `max` items into `out` without waiting. Returns how many.
  std::size_t PopMany(std::vector<T>& out, std::size_t max) {
    std::size_t n = 0;
    {
      std::lock_guard lock(mutex_);
      while (n < max && !items_.empty()) {
        out.push_back(std::move(items_.front()));
        items_.pop_front();
        ++n;
      }
    }
    if (n > 0) {
      not_full_.notify_all();
    }
    return n;
  }

  // Wakes everyone; Push fails afterwards, Pop drains what is left.
  void Close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  std::size_t Size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  std::size_t Capacity() const { return capacity_; }
  bool Closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace iot::gateway

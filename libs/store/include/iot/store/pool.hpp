#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "iot/store/db.hpp"

namespace iot::store {

struct PoolSettings {
  DbSettings db;
  int threads = 4;                    // one connection per thread
  std::size_t queue_capacity = 1024;  // Submit refuses above this (answer 503)
};

// Usage numbers for /metrics and /readyz.
struct PoolStats {
  std::size_t queue_depth = 0;
  std::size_t queue_capacity = 0;
  int threads = 0;
  int busy = 0;       // workers running a task now
  int connected = 0;  // workers whose connection is up
  std::uint64_t submitted = 0;
  std::uint64_t rejected = 0;  // Submit returned false (queue full or stopped)
  std::uint64_t completed = 0;
};

// N worker threads, each owning a Db (its own pqxx connection, statements prepared after every
// (re)connect), fed from one bounded FIFO queue. A task runs on a worker thread with that worker's Db;
// it must not block on anything but the database and should post its result back to the caller's
// executor. Idle workers whose connection is down keep reconnecting with backoff.
class DbPool final {
 public:
  using Task = std::function<void(Db&)>;

  explicit DbPool(PoolSettings settings);
  ~DbPool();  // Stop()
  DbPool(const DbPool&) = delete;
  DbPool& operator=(const DbPool&) = delete;

  // Enqueues `task`; false when the queue is full or the pool is stopping (the task is not run).
  bool Submit(Task task);
  PoolStats Stats() const;
  // Runs the tasks already queued, then joins the workers. Idempotent.
  void Stop();

 private:
  void WorkerLoop(int index);

  PoolSettings settings_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stopping_ = false;
  int busy_ = 0;
  std::uint64_t submitted_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t completed_ = 0;
  std::vector<char> connected_;  // per worker, guarded by mutex_
  std::vector<std::thread> workers_;
};

}  // namespace iot::store

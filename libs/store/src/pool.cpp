#include "iot/store/pool.hpp"

#include <chrono>

namespace iot::store {

DbPool::DbPool(PoolSettings settings) : settings_(std::move(settings)) {
  if (settings_.threads < 1) {
    settings_.threads = 1;
  }
  connected_.assign(static_cast<std::size_t>(settings_.threads), 0);
  workers_.reserve(static_cast<std::size_t>(settings_.threads));
  for (int i = 0; i < settings_.threads; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

DbPool::~DbPool() { Stop(); }

bool DbPool::Submit(Task task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= settings_.queue_capacity) {
      ++rejected_;
      return false;
    }
    queue_.push_back(std::move(task));
    ++submitted_;
  }
  cv_.notify_one();
  return true;
}

PoolStats DbPool::Stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.queue_depth = queue_.size();
  s.queue_capacity = settings_.queue_capacity;
  s.threads = settings_.threads;
  s.busy = busy_;
  for (char c : connected_) {
    s.connected += c != 0 ? 1 : 0;
  }
  s.submitted = submitted_;
  s.rejected = rejected_;
  s.completed = completed_;
  return s;
}

void DbPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && workers_.empty()) {
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) {
      t.join();
    }
  }
  workers_.clear();
}

void DbPool::WorkerLoop(int index) {
  Db db(settings_.db);
  (void)db.Connect();
  const auto idx = static_cast<std::size_t>(index);
  while (true) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      connected_[idx] = db.IsConnected() ? 1 : 0;
      // Idle with a broken connection: wake up periodically to reconnect (backoff lives in Db).
      cv_.wait_for(lock, std::chrono::milliseconds(db.IsConnected() ? 1000 : 100),
                   [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        if (stopping_) {
          return;
        }
        lock.unlock();
        if (!db.IsConnected()) {
          (void)db.Connect();
        }
        continue;
      }
      task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    try {
      task(db);
    } catch (...) {
      // A task must not throw; never let it kill the worker.
    }
    std::lock_guard lock(mutex_);
    --busy_;
    ++completed_;
    connected_[idx] = db.IsConnected() ? 1 : 0;
  }
}

}  // namespace iot::store

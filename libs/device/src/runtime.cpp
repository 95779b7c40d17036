#include "iot/device/runtime.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "iot/common/log.hpp"

namespace iot::device {

struct Runtime::Impl {
  struct Delayed {
    TimePoint at;
    std::uint64_t seq;
    std::function<void()> task;
    bool operator>(const Delayed& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  RuntimeOptions options;
  mutable std::mutex mutex;
  std::condition_variable work_cv;
  std::condition_variable timer_cv;
  std::deque<std::function<void()>> queue;
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> delayed;
  std::uint64_t delayed_seq = 0;
  std::vector<std::function<bool(TimePoint)>> tickers;
  std::vector<std::function<bool(TimePoint)>> new_tickers;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::thread timer;

  void WorkerLoop() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex);
        work_cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) {
          return;  // stopping, and everything queued has run
        }
        task = std::move(queue.front());
        queue.pop_front();
      }
      try {
        task();
      } catch (const std::exception& e) {
        IOT_LOG_WARN("device", "msg=\"callback threw\" error=" << log::Quote(e.what()));
      } catch (...) {
        IOT_LOG_WARN("device", "msg=\"callback threw a non-exception\"");
      }
    }
  }

  void TimerLoop() {
    auto next_tick = std::chrono::steady_clock::now();
    while (true) {
      std::vector<std::function<bool(TimePoint)>> run;
      {
        std::unique_lock lock(mutex);
        TimePoint wake = next_tick;
        if (!delayed.empty()) {
          wake = std::min(wake, delayed.top().at);
        }
        timer_cv.wait_until(lock, wake, [&] { return stopping; });
        if (stopping) {
          return;
        }
        const TimePoint now = std::chrono::steady_clock::now();
        while (!delayed.empty() && delayed.top().at <= now) {
          queue.push_back(std::move(const_cast<Delayed&>(delayed.top()).task));
          delayed.pop();
          work_cv.notify_one();
        }
        if (now < next_tick) {
          continue;
        }
        next_tick = now + options.tick;
        for (auto& t : new_tickers) {
          tickers.push_back(std::move(t));
        }
        new_tickers.clear();
        run.swap(tickers);
      }
      // Tickers run without the lock: they publish through Paho and may post completions.
      const TimePoint now = std::chrono::steady_clock::now();
      std::vector<std::function<bool(TimePoint)>> keep;
      keep.reserve(run.size());
      for (auto& t : run) {
        bool again = false;
        try {
          again = t(now);
        } catch (const std::exception& e) {
          IOT_LOG_WARN("device", "msg=\"ticker threw\" error=" << log::Quote(e.what()));
        }
        if (again) {
          keep.push_back(std::move(t));
        }
      }
      std::lock_guard lock(mutex);
      for (auto& t : keep) {
        tickers.push_back(std::move(t));
      }
    }
  }
};

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_shared<Impl>()) {
  impl_->options = options;
  if (impl_->options.workers < 1) {
    impl_->options.workers = 1;
  }
  if (impl_->options.tick < std::chrono::milliseconds(1)) {
    impl_->options.tick = std::chrono::milliseconds(1);
  }
  for (int i = 0; i < impl_->options.workers; ++i) {
    impl_->workers.emplace_back([impl = impl_] { impl->WorkerLoop(); });
  }
  impl_->timer = std::thread([impl = impl_] { impl->TimerLoop(); });
}

Runtime::~Runtime() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->work_cv.notify_all();
  impl_->timer_cv.notify_all();
  for (auto& w : impl_->workers) {
    // A device destroyed from one of our own callbacks would otherwise join itself; the detached
    // thread keeps Impl alive and ends as soon as its task returns.
    if (w.get_id() == std::this_thread::get_id()) {
      w.detach();
    } else {
      w.join();
    }
  }
  if (impl_->timer.get_id() == std::this_thread::get_id()) {
    impl_->timer.detach();
  } else {
    impl_->timer.join();
  }
}

bool Runtime::Post(std::function<void()> task) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping || impl_->queue.size() >= impl_->options.queue_limit) {
      return false;
    }
    impl_->queue.push_back(std::move(task));
  }
  impl_->work_cv.notify_one();
  return true;
}

bool Runtime::PostAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping || impl_->queue.size() + impl_->delayed.size() >= impl_->options.queue_limit) {
      return false;
    }
    impl_->delayed.push(
        Impl::Delayed{std::chrono::steady_clock::now() + delay, impl_->delayed_seq++, std::move(task)});
  }
  impl_->timer_cv.notify_one();
  return true;
}

void Runtime::PostAlways(std::function<void()> task) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->queue.push_back(std::move(task));  // even while stopping: completions always run
  }
  impl_->work_cv.notify_one();
}

void Runtime::AddTicker(std::function<bool(TimePoint)> ticker) {
  std::lock_guard lock(impl_->mutex);
  impl_->new_tickers.push_back(std::move(ticker));
}

std::size_t Runtime::Queued() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->queue.size();
}

}  // namespace iot::device

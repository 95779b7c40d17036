#include "http/body_stream.hpp"

#include <algorithm>
#include <cstring>
#include <system_error>
#include <utility>

namespace iot::api {

bool IsStreamedBodyTarget(std::string_view method, std::string_view target) {
  constexpr std::string_view kPrefix = "/api/v1/products/";
  constexpr std::string_view kSuffix = "/firmwares";
  target = target.substr(0, target.find('?'));
  if (method != "POST" || target.size() <= kPrefix.size() + kSuffix.size() ||
      target.substr(0, kPrefix.size()) != kPrefix ||
      target.substr(target.size() - kSuffix.size()) != kSuffix) {
    return false;
  }
  const std::string_view product =
      target.substr(kPrefix.size(), target.size() - kPrefix.size() - kSuffix.size());
  return product.find('/') == std::string_view::npos;
}

bool BodyChannel::Push(std::string chunk) {
  std::lock_guard lock(mutex_);
  if (abandoned_ || finished_ || failure_) {
    return true;
  }
  if (!chunk.empty()) {
    chunks_.push_back(std::move(chunk));
    cv_.notify_all();
  }
  if (chunks_.size() >= max_chunks_) {
    producer_waiting_ = true;
    return false;
  }
  return true;
}

void BodyChannel::Finish() {
  std::lock_guard lock(mutex_);
  finished_ = true;
  cv_.notify_all();
}

void BodyChannel::Fail(BodyErrc why) {
  std::lock_guard lock(mutex_);
  if (!finished_ && !failure_) {
    failure_ = why;
  }
  cv_.notify_all();
}

void BodyChannel::SetResume(std::function<void()> resume) {
  std::lock_guard lock(mutex_);
  resume_ = std::move(resume);
}

Result<std::size_t> BodyChannel::Read(char* out, std::size_t capacity) {
  std::function<void()> resume;
  std::size_t copied = 0;
  {
    std::unique_lock lock(mutex_);
    const bool ready = cv_.wait_for(
        lock, idle_timeout_, [this] { return !chunks_.empty() || finished_ || failure_ || abandoned_; });
    if (!ready) {
      failure_ = BodyErrc::timed_out;
      abandoned_ = true;
      chunks_.clear();
      return make_error_code(BodyErrc::timed_out);
    }
    if (chunks_.empty()) {
      if (failure_) {
        return make_error_code(*failure_);
      }
      if (abandoned_) {
        return make_error_code(BodyErrc::connection_aborted);
      }
      return std::size_t{0};  // finished
    }
    std::string& front = chunks_.front();
    copied = std::min(capacity, front.size() - offset_);
    std::memcpy(out, front.data() + offset_, copied);
    offset_ += copied;
    if (offset_ == front.size()) {
      chunks_.pop_front();
      offset_ = 0;
      if (producer_waiting_ && chunks_.size() < max_chunks_) {
        producer_waiting_ = false;
        resume = resume_;
      }
    }
  }
  if (resume) {
    resume();  // outside the lock: it only posts to the connection's strand
  }
  return copied;
}

void BodyChannel::Abandon() {
  std::function<void()> resume;
  {
    std::lock_guard lock(mutex_);
    if (abandoned_) {
      return;
    }
    abandoned_ = true;
    chunks_.clear();
    offset_ = 0;
    if (producer_waiting_) {
      producer_waiting_ = false;
      resume = resume_;
    }
    cv_.notify_all();
  }
  if (resume) {
    resume();
  }
}

bool BodyChannel::Abandoned() const {
  std::lock_guard lock(mutex_);
  return abandoned_;
}

}  // namespace iot::api

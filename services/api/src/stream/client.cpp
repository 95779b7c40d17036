#include "stream/client.hpp"

namespace iot::api::stream {

void Client::SetWake(std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  wake_ = std::move(wake);
}

void Client::Wake() {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    wake = wake_;
  }
  if (wake) {
    wake();
  }
}

bool Client::Push(Message message, bool* defer_wake) {
  std::function<void()> wake;
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    if (overflowed_ || closed_) {
      return false;
    }
    if (queue_.size() + 1 > limits_.max_messages || queued_bytes_ + message->size() > limits_.max_bytes) {
      overflowed_ = true;
      queue_.clear();
      queued_bytes_ = 0;
    } else {
      queued_bytes_ += message->size();
      queue_.push_back(std::move(message));
      queued = true;
    }
    if (!wake_pending_ || overflowed_) {
      wake_pending_ = true;
      wake = wake_;
    }
  }
  if (wake) {
    if (defer_wake != nullptr) {
      *defer_wake = true;
    } else {
      wake();
    }
  }
  return queued;
}

std::optional<Message> Client::Pop(bool* more) {
  std::lock_guard lock(mutex_);
  if (queue_.empty()) {
    wake_pending_ = false;
    return std::nullopt;
  }
  Message m = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= m->size();
  if (more != nullptr) {
    *more = !queue_.empty();
  }
  return m;
}

bool Client::Overflowed() const {
  std::lock_guard lock(mutex_);
  return overflowed_;
}

bool Client::Closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void Client::Close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  queue_.clear();
  queued_bytes_ = 0;
}

void Client::RequestClose(std::uint16_t code, std::string reason) {
  std::function<void()> wake;
  {
    std::lock_guard lock(mutex_);
    if (close_request_ || closed_) {
      return;
    }
    close_request_ = CloseRequest{code, std::move(reason)};
    closed_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    wake_pending_ = true;
    wake = wake_;
  }
  if (wake) {
    wake();
  }
}

std::optional<Client::CloseRequest> Client::PendingClose() const {
  std::lock_guard lock(mutex_);
  return close_request_;
}

}  // namespace iot::api::stream

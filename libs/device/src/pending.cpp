#include "pending.hpp"

#include <algorithm>

namespace iot::device {

bool PendingTable::Add(PendingRequest request, Clock::time_point now) {
  if (Full() || requests_.count(request.key) != 0) {
    return false;
  }
  request.created = now;
  request.attempts = 0;
  request.awaiting = false;
  order_.push_back(request.key);
  std::string key = request.key;
  requests_.emplace(std::move(key), std::move(request));
  return true;
}

void PendingTable::Due(Clock::time_point now, bool connected, std::vector<Send>& sends,
                       std::vector<PendingRequest>& expired) {
  // Walk in send order so that a device's messages go out (and are resent) in the order posted;
  // compact in place (this runs every tick for every device: no allocation when nothing changed).
  std::size_t kept = 0;
  for (std::size_t i = 0; i < order_.size(); ++i) {
    auto it = requests_.find(order_[i]);
    if (it == requests_.end()) {
      continue;  // completed meanwhile
    }
    PendingRequest& r = it->second;
    const bool past_deadline = now >= r.created + settings_.deadline;
    const bool reply_late = r.awaiting && now >= r.last_sent + settings_.reply_timeout;
    if (past_deadline || (reply_late && r.attempts >= settings_.max_attempts) ||
        (!r.awaiting && r.attempts >= settings_.max_attempts && r.attempts > 0)) {
      expired.push_back(std::move(r));
      requests_.erase(it);
      continue;
    }
    if (connected && (!r.awaiting || reply_late)) {
      if (r.attempts == 0) {
        r.first_sent = now;
      }
      r.last_sent = now;
      ++r.attempts;
      r.awaiting = true;
      sends.push_back(Send{r.key, r.topic, r.payload, r.qos, r.attempts});
    }
    if (kept != i) {
      order_[kept] = std::move(order_[i]);
    }
    ++kept;
  }
  order_.resize(kept);
}

void PendingTable::Unsent(const std::string& key) {
  auto it = requests_.find(key);
  if (it == requests_.end()) {
    return;
  }
  it->second.awaiting = false;
  if (it->second.attempts > 0) {
    --it->second.attempts;  // it never left
  }
}

std::optional<PendingRequest> PendingTable::Complete(const std::string& key, const std::string& topic) {
  auto it = requests_.find(key);
  if (it == requests_.end() || it->second.reply_topic != topic || it->second.attempts == 0) {
    return std::nullopt;
  }
  PendingRequest r = std::move(it->second);
  requests_.erase(it);
  return r;
}

void PendingTable::ConnectionLost() {
  for (auto& [key, r] : requests_) {
    r.awaiting = false;
  }
}

std::vector<PendingRequest> PendingTable::TakeAll() {
  std::vector<PendingRequest> out;
  for (const std::string& key : order_) {
    auto it = requests_.find(key);
    if (it == requests_.end()) {
      continue;
    }
    out.push_back(std::move(it->second));
    requests_.erase(it);
  }
  order_.clear();
  return out;
}

std::optional<Clock::time_point> PendingTable::NextEvent() const {
  std::optional<Clock::time_point> next;
  for (const auto& [key, r] : requests_) {
    Clock::time_point t = r.created + settings_.deadline;
    if (!r.awaiting) {
      t = r.created;  // to send now
    } else {
      t = std::min(t, r.last_sent + settings_.reply_timeout);
    }
    if (!next || t < *next) {
      next = t;
    }
  }
  return next;
}

}  // namespace iot::device

#pragma once

// The device's requests that wait for a reply (posts, desired, template, NTP). Pure: the caller
// passes the time and does the publishing, so unit tests drive resend and expiry with a fake clock.
//
// A request is sent, and resent with the SAME id and the SAME bytes when no reply came within
// `reply_timeout` (the gateway stores a redelivered post once and answers it again). After
// `max_attempts` publishes, or when `deadline` passes (time spent disconnected included), it ends
// as timed out. A lost connection marks every request for resending once the device is back.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "iot/device/types.hpp"

namespace iot::device {

using Clock = std::chrono::steady_clock;

struct PendingSettings {
  std::size_t window = 32;  // requests waiting for a reply at once
  std::chrono::milliseconds reply_timeout{3000};
  int max_attempts = 3;
  std::chrono::milliseconds deadline{30000};
};

struct PendingRequest {
  std::string key;          // the Alink id (or "ntp:<deviceSendTime>")
  std::string topic;        // where it is published
  std::string payload;      // exact bytes, resent unchanged
  std::string reply_topic;  // where the answer must arrive
  int qos = 1;
  bool post = false;  // parse refusals from the reply
  ReplyCallback done;
  bool inline_done = false;  // `done` only wakes a waiting thread: safe on any thread

  // Managed by the table.
  Clock::time_point created{};
  Clock::time_point first_sent{};
  Clock::time_point last_sent{};
  int attempts = 0;
  bool awaiting = false;  // published on the current connection, waiting for the reply
};

// A publish the caller must make now.
struct Send {
  std::string key;
  std::string topic;
  std::string payload;
  int qos = 1;
  int attempt = 1;  // 2 and more: a resend
};

class PendingTable {
 public:
  explicit PendingTable(PendingSettings settings) : settings_(settings) {}

  std::size_t size() const { return requests_.size(); }
  bool Full() const { return requests_.size() >= settings_.window; }
  const PendingSettings& settings() const { return settings_; }

  // False when the window is full or the key is already pending.
  bool Add(PendingRequest request, Clock::time_point now);

  // Requests to publish now (new ones and resends), each counted as one attempt and marked as
  // awaiting, plus the requests that ran out of attempts or time (removed). Nothing is sent while
  // `connected` is false.
  void Due(Clock::time_point now, bool connected, std::vector<Send>& sends,
           std::vector<PendingRequest>& expired);

  // The publish of `key` failed (e.g. Paho's buffer was full): try again on the next Due.
  void Unsent(const std::string& key);

  // The reply for `key` arrived on `topic`. Returns the request (removed) when it matches.
  std::optional<PendingRequest> Complete(const std::string& key, const std::string& topic);

  // The connection dropped: replies in flight are lost, so everything is sent again when back.
  void ConnectionLost();

  std::vector<PendingRequest> TakeAll();

  // Earliest time Due() has something to do while connected; nullopt when empty.
  std::optional<Clock::time_point> NextEvent() const;

 private:
  PendingSettings settings_;
  std::unordered_map<std::string, PendingRequest> requests_;
  std::vector<std::string> order_;  // send order (oldest first); may hold keys already completed
};

}  // namespace iot::device

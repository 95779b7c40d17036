#pragma once

// One live-stream connection as the fan-out sees it, independent of the transport: the principal, the
// subscriptions, and a bounded queue of outgoing messages. Producers (the stream feed thread, DB pool
// threads answering subscribes) Push; the transport Pops on its own thread after being woken.
// A client that falls behind by more than the limits is marked overflowed: its queue is dropped and
// the transport closes it with 1008 rather than buffering without bound.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "http/auth_types.hpp"

namespace iot::api::stream {

using Message = std::shared_ptr<const std::string>;

struct QueueLimits {
  std::size_t max_messages = 1024;
  std::size_t max_bytes = 4 * 1024 * 1024;
};

// productKey + deviceName ("" = the whole product).
using Subscription = std::pair<std::string, std::string>;

class Client final {
 public:
  Client(std::uint64_t id, Principal principal, QueueLimits limits)
      : id_(id), principal_(std::move(principal)), limits_(limits) {}

  std::uint64_t Id() const { return id_; }
  const Principal& Who() const { return principal_; }

  // Called (outside the queue lock) when the queue turns non-empty or the client overflows; the
  // transport then Pops until empty. Set once before the client is published to producers.
  void SetWake(std::function<void()> wake);

  // Thread-safe. False when the message was not queued (overflowed or closed). With `defer_wake`, a
  // needed wake is not sent but reported there (set to true); the caller calls Wake() after queuing
  // the rest of its batch, so the transport finds many messages per wake, not one.
  bool Push(Message message, bool* defer_wake = nullptr);
  void Wake();
  // Transport side: the next message, or nullopt when empty (the next Push wakes again). `more`:
  // whether another message is queued behind it.
  std::optional<Message> Pop(bool* more = nullptr);
  bool Overflowed() const;
  bool Closed() const;
  // No more pushes are accepted (the connection is going away).
  void Close();

  // Asks the transport to close the connection with a WebSocket close `code` (e.g. 1009 for a message
  // nested too deep, 4401 for a revoked or expired token): what is queued is dropped, nothing more is
  // accepted, and the transport is woken. The first request wins.
  struct CloseRequest {
    std::uint16_t code = 0;
    std::string reason;
  };
  void RequestClose(std::uint16_t code, std::string reason);
  std::optional<CloseRequest> PendingClose() const;

  // Subscriptions are changed by the service under the hub's lock only.
  std::set<Subscription>& Subscriptions() { return subscriptions_; }

 private:
  const std::uint64_t id_;
  const Principal principal_;
  const QueueLimits limits_;
  std::function<void()> wake_;

  mutable std::mutex mutex_;
  std::deque<Message> queue_;
  std::size_t queued_bytes_ = 0;
  bool wake_pending_ = false;  // a wake was sent and the transport has not yet found the queue empty
  bool overflowed_ = false;
  bool closed_ = false;
  std::optional<CloseRequest> close_request_;

  std::set<Subscription> subscriptions_;  // guarded by the hub's mutex
};

}  // namespace iot::api::stream

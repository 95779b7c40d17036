#pragma once

// GET /api/v1/stream without sockets: the transport asks Authorize() at the upgrade, then reports each
// client message (OnMessage) and the end of the connection (OnClosed); the service answers through the
// client's queue. Every role may read the stream; the token comes from "Authorization: Bearer" or,
// for browsers, from ?token= (never logged: the access line uses RedactedTarget()).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/auth.hpp"
#include "http/request.hpp"
#include "stream/client.hpp"
#include "stream/hub.hpp"

namespace iot::api::stream {

// Does the product (and device) of a subscribe exist? Asynchronous: the store-backed one asks
// PostgreSQL on the DB pool; `done` runs on any thread, exactly once.
class SubscriptionChecker {
 public:
  enum class Verdict { kOk, kUnknownProduct, kUnknownDevice, kUnavailable };
  using Done = std::function<void(Verdict)>;
  virtual ~SubscriptionChecker() = default;
  virtual void Check(std::string product_key, std::string device_name, Done done) = 0;
};

struct Settings {
  QueueLimits queue;
  std::size_t max_subscriptions = 1000;  // per client
};

struct UpgradeDecision {
  std::optional<Response> refusal;  // set: answer this instead of upgrading
  std::shared_ptr<Client> client;   // set when accepted
};

struct Counters {
  std::atomic<std::int64_t> clients{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused{0};
  std::atomic<std::uint64_t> slow_disconnects{0};
  std::atomic<std::uint64_t> bad_messages{0};
};

class Service final {
 public:
  Service(Authenticator& authenticator, SubscriptionChecker& checker, Hub& hub, Settings settings)
      : authenticator_(authenticator), checker_(checker), hub_(hub), settings_(settings) {}

  // True for the stream's path (query ignored).
  static bool IsStreamTarget(std::string_view target);

  // Checks the token of an upgrade request; `done` runs on any thread, exactly once. Writes the
  // access log line (status 101 or the refusal's).
  void Authorize(Request request, std::function<void(UpgradeDecision)> done);
  // One message from the client (`text` false: a binary frame, which is refused).
  void OnMessage(const std::shared_ptr<Client>& client, std::string_view message, bool text);
  // The client fell behind (its queue overflowed): it gets nothing more; the transport closes it (1008).
  void OnSlow(const std::shared_ptr<Client>& client);
  // The connection ended.
  void OnClosed(const std::shared_ptr<Client>& client);
  // Closes (4401) every open stream whose token was revoked (`revoked_token_id`) or has expired by
  // `now_ms`. Thread-safe; called by the token listener at once on a revocation and about every 100 ms.
  void CloseTokens(std::optional<std::int64_t> revoked_token_id, std::int64_t now_ms);
  // The token ids of the open streams (each once; not 0, a token that is not stored). Thread-safe.
  std::vector<std::int64_t> OpenTokenIds();

  // Runs `then` once data committed from now on is sure to reach the hub (the feed holds its presence
  // lock long enough); subscribe confirmations wait for it. Unset: confirm at once. Set before use.
  using Gate = std::function<void(std::function<void()> then)>;
  void SetGate(Gate gate) { gate_ = std::move(gate); }

  Counters& Stats() { return counters_; }
  Hub& GetHub() { return hub_; }

 private:
  Authenticator& authenticator_;
  SubscriptionChecker& checker_;
  Hub& hub_;
  const Settings settings_;
  Counters counters_;
  std::atomic<std::uint64_t> next_client_id_{1};
  Gate gate_;
  std::mutex clients_mutex_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Client>> clients_;  // open streams
};

}  // namespace iot::api::stream

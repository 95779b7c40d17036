#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/auth.hpp"
#include "iot/common/rate_limiter.hpp"
#include "iot/store/db.hpp"
#include "iot/store/pool.hpp"

namespace iot::api {

struct TokenCacheSettings {
  std::chrono::milliseconds ttl{10000};  // 0: no cache (every request is a lookup)
  std::size_t max_entries = 10000;
  int failures_per_minute = 60;  // failed lookups per client address before 429 (0 = no limit)
  store::DbSettings listen_db;   // the LISTEN connection of the cache ("" dsn: no cache)
};

// Tokens kept (hashed) in PostgreSQL. The lookup runs on the DB pool, never on the I/O thread.
//  - A lookup that cannot run (pool queue full, database error) answers kUnavailable (503), never
//    kUnknown: unauthenticated traffic can slow valid tokens down but not sign anybody out.
//  - Valid tokens are cached for at most `ttl` (and never past their expiry), but only while this
//    instance's LISTEN connection on iot_token is up: a revocation anywhere clears the cache of every
//    instance when its notification arrives, and the instance that revokes clears its own before it
//    answers (Revoked()). Without the LISTEN connection every request is a lookup again.
//  - Failed lookups are counted per client address; past the limit, tokens that are not cached are
//    answered kLimited (429) without a lookup, so guessing costs the database nothing.
class StoreAuthenticator final : public Authenticator {
 public:
  StoreAuthenticator(store::DbPool& pool, TokenCacheSettings settings = {});
  ~StoreAuthenticator() override;  // Stop()
  StoreAuthenticator(const StoreAuthenticator&) = delete;
  StoreAuthenticator& operator=(const StoreAuthenticator&) = delete;

  void Authenticate(std::string_view token, std::string_view client, Done done) override;

  // Starts / stops the LISTEN thread (without Start() nothing is cached).
  void Start();
  void Stop();
  // A token was revoked here: forget it now (the NOTIFY reaches the other instances).
  void Revoked(std::int64_t token_id);
  // Called on the LISTEN thread for every revoked token id, and with nullopt about every 100 ms (so
  // open streams can close expired tokens). Set before Start().
  using RevocationObserver = std::function<void(std::optional<std::int64_t> revoked_token_id)>;
  void SetRevocationObserver(RevocationObserver observer) { observer_ = std::move(observer); }
  // The token ids that open streams hold. After every (re)connect of the LISTEN connection (revocations
  // may have been missed while it was away), those that are no longer valid are reported to the
  // observer as revoked. Set before Start().
  using OpenTokens = std::function<std::vector<std::int64_t>()>;
  void SetOpenTokens(OpenTokens open_tokens) { open_tokens_ = std::move(open_tokens); }
  bool Listening() const { return listening_.load(); }

 private:
  struct Entry {
    Principal principal;
    std::chrono::steady_clock::time_point until;
  };
  std::optional<Principal> Cached(const std::string& hash);
  std::uint64_t Generation();
  // Not when something was forgotten since `generation` (the lookup may predate a revocation).
  void Remember(const std::string& hash, const Principal& principal, std::uint64_t generation);
  void Forget(std::optional<std::int64_t> token_id);  // nullopt: everything
  void Run();
  // Checks the open streams' tokens on the pool (after a resync); tried again later when it cannot run.
  void RecheckOpenTokens();

  store::DbPool& pool_;
  const TokenCacheSettings settings_;
  std::mutex mutex_;                              // guards cache_ and failures_
  std::unordered_map<std::string, Entry> cache_;  // by token hash
  std::uint64_t generation_ = 0;                  // bumped by every Forget
  DeviceRateLimiter failures_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> stopping_{false};
  RevocationObserver observer_;
  OpenTokens open_tokens_;
  std::atomic<bool> recheck_{false};                    // set by a resync, cleared by RecheckOpenTokens
  std::chrono::steady_clock::time_point next_recheck_;  // the listener thread's only
  std::thread thread_;
};

}  // namespace iot::api

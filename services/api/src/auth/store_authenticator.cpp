#include "auth/store_authenticator.hpp"

#include <algorithm>
#include <chrono>

#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/listener.hpp"
#include "iot/store/tokens.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.auth";
constexpr auto kPollTimeout = std::chrono::milliseconds(100);

Role ToApiRole(store::Role role) {
  switch (role) {
    case store::Role::kAdmin: return Role::kAdmin;
    case store::Role::kOperator: return Role::kOperator;
    case store::Role::kViewer: return Role::kViewer;
  }
  return Role::kViewer;
}

}  // namespace

StoreAuthenticator::StoreAuthenticator(store::DbPool& pool, TokenCacheSettings settings)
    : pool_(pool),
      settings_(std::move(settings)),
      failures_(settings_.failures_per_minute / 60.0, static_cast<double>(settings_.failures_per_minute),
                100000) {}

StoreAuthenticator::~StoreAuthenticator() { Stop(); }

void StoreAuthenticator::Start() {
  if (settings_.listen_db.dsn.empty() || thread_.joinable()) {
    return;
  }
  thread_ = std::thread([this] { Run(); });
}

void StoreAuthenticator::Stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
  listening_ = false;
}

void StoreAuthenticator::Run() {
  store::Listener listener(settings_.listen_db, {store::kChannelToken}, [this](const store::Notification& n) {
    if (n.resync) {
      Forget(std::nullopt);  // revocations may have been missed while away
      recheck_ = true;       // and open streams may hold one of those tokens
      listening_ = true;
      IOT_LOG_INFO(kLog, "msg=\"token cache on: listening for revocations\"");
      return;
    }
    const auto slash = n.payload.find('/');
    std::int64_t id = 0;
    try {
      id = std::stoll(n.payload.substr(0, slash));
    } catch (const std::exception&) {
      Forget(std::nullopt);
      return;
    }
    Forget(id);
    if (observer_ &&
        n.payload.substr(slash == std::string::npos ? n.payload.size() : slash + 1) == "revoked") {
      observer_(id);
    }
  });
  while (!stopping_) {
    auto polled = listener.Poll(kPollTimeout);
    if ((!polled || !listener.IsConnected()) && listening_.exchange(false)) {
      Forget(std::nullopt);
      IOT_LOG_WARN(kLog, "msg=\"token cache off: LISTEN connection lost, every token is looked up\"");
    }
    if (observer_) {
      observer_(std::nullopt);
    }
    if (recheck_.load() && std::chrono::steady_clock::now() >= next_recheck_) {
      next_recheck_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      RecheckOpenTokens();
    }
  }
}

void StoreAuthenticator::RecheckOpenTokens() {
  recheck_ = false;
  if (!open_tokens_ || !observer_) {
    return;
  }
  std::vector<std::int64_t> ids = open_tokens_();
  if (ids.empty()) {
    return;
  }
  const bool queued = pool_.Submit([this, ids](store::Db& db) {
    auto active = store::ActiveTokenIds(db, ids, NowMs());
    if (!active) {
      IOT_LOG_WARN(kLog, "msg=\"open streams' tokens not rechecked, retrying\" error="
                             << log::Quote(active.error().message()));
      recheck_ = true;
      return;
    }
    for (const auto id : ids) {
      if (std::find(active->begin(), active->end(), id) == active->end()) {
        observer_(id);  // revoked or deleted while the LISTEN connection was away
      }
    }
  });
  if (!queued) {
    recheck_ = true;
  }
}

std::optional<Principal> StoreAuthenticator::Cached(const std::string& hash) {
  if (!listening_.load() || settings_.ttl.count() <= 0) {
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  auto it = cache_.find(hash);
  if (it == cache_.end()) {
    return std::nullopt;
  }
  const bool expired = it->second.principal.expires_at_ms && *it->second.principal.expires_at_ms <= NowMs();
  if (expired || std::chrono::steady_clock::now() >= it->second.until) {
    cache_.erase(it);
    return std::nullopt;
  }
  return it->second.principal;
}

std::uint64_t StoreAuthenticator::Generation() {
  std::lock_guard lock(mutex_);
  return generation_;
}

void StoreAuthenticator::Remember(const std::string& hash, const Principal& principal,
                                  std::uint64_t generation) {
  if (!listening_.load() || settings_.ttl.count() <= 0) {
    return;
  }
  std::lock_guard lock(mutex_);
  if (generation != generation_) {
    return;
  }
  if (cache_.size() >= settings_.max_entries) {
    cache_.clear();  // bounded; the next requests refill what is in use
  }
  cache_[hash] = Entry{principal, std::chrono::steady_clock::now() + settings_.ttl};
}

void StoreAuthenticator::Forget(std::optional<std::int64_t> token_id) {
  std::lock_guard lock(mutex_);
  ++generation_;
  if (!token_id) {
    cache_.clear();
    return;
  }
  std::erase_if(cache_, [&](const auto& entry) { return entry.second.principal.token_id == *token_id; });
}

void StoreAuthenticator::Revoked(std::int64_t token_id) {
  Forget(token_id);
  if (observer_) {
    observer_(token_id);
  }
}

void StoreAuthenticator::Authenticate(std::string_view token, std::string_view client, Done done) {
  std::string hash = store::TokenHash(token);
  if (auto principal = Cached(hash)) {
    done(AuthResult::Ok(std::move(*principal)));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (settings_.failures_per_minute > 0 && failures_.Exhausted(client, NowMs())) {
      done(AuthResult::Failed(AuthResult::Status::kLimited));
      return;
    }
  }
  auto shared_done = std::make_shared<Done>(std::move(done));
  const std::uint64_t generation = Generation();
  const bool queued = pool_.Submit([this, token = std::string(token), client = std::string(client),
                                    hash = std::move(hash), generation, shared_done](store::Db& db) {
    auto principal = store::Authenticate(db, token, NowMs());
    if (!principal) {
      if (!store::Is(principal.error(), store::Errc::kNotFound)) {
        IOT_LOG_WARN(kLog, "msg=\"token lookup failed\" error=" << log::Quote(principal.error().message()));
        (*shared_done)(AuthResult::Failed(AuthResult::Status::kUnavailable));
        return;
      }
      if (settings_.failures_per_minute > 0) {
        std::lock_guard lock(mutex_);
        failures_.Allow(client, NowMs());  // spends one of the address's failures
      }
      (*shared_done)(AuthResult::Failed(AuthResult::Status::kUnknown));
      return;
    }
    Principal found{.name = principal->name,
                    .role = ToApiRole(principal->role),
                    .token_id = principal->token_id,
                    .expires_at_ms = principal->expires_at};
    Remember(hash, found, generation);
    (*shared_done)(AuthResult::Ok(std::move(found)));
  });
  if (!queued) {
    IOT_LOG_WARN(kLog, "msg=\"token lookup refused: DB pool queue full\"");
    (*shared_done)(AuthResult::Failed(AuthResult::Status::kUnavailable));
  }
}

}  // namespace iot::api

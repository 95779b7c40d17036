#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// API tokens. Only sha256(token) is stored; the clear token exists once, in CreatedToken.
struct TokenInfo {
  std::int64_t id = 0;
  std::string name;
  Role role = Role::kViewer;
  TimeMs created_at = 0;
  std::optional<TimeMs> expires_at;
  bool revoked = false;
};

struct TokenCreate {
  std::string name;
  Role role = Role::kViewer;
  std::optional<TimeMs> expires_at;
};

struct CreatedToken {
  TokenInfo info;
  std::string token;  // clear value, shown to the caller once ("iot_" + 43 url-safe characters)
};

struct Principal {
  std::int64_t token_id = 0;
  std::string name;
  Role role = Role::kViewer;
  std::optional<TimeMs> expires_at;
};

Result<CreatedToken> CreateToken(Db& db, const TokenCreate& request);
// Stores a caller-chosen clear token (the bootstrap IOT_ADMIN_TOKEN); idempotent by hash: an existing
// row with that hash is updated to `name`/`role` without expiry, and stays revoked if it was revoked
// (an operator's revocation outlives restarts; the answer's `revoked` says so).
Result<TokenInfo> EnsureToken(Db& db, std::string_view clear_token, std::string_view name, Role role);
// Newest first; revoked tokens included (revoked = true).
Result<Page<TokenInfo>> ListTokens(Db& db, const PageQuery& page);
// kNotFound when no such id; revoking twice is fine.
Result<void> RevokeToken(Db& db, std::int64_t token_id);
// Which of `token_ids` are still valid (not revoked, not deleted, not expired at `now`).
Result<std::vector<std::int64_t>> ActiveTokenIds(Db& db, const std::vector<std::int64_t>& token_ids,
                                                 TimeMs now);
// kNotFound when the token is unknown, revoked or expired at `now`.
Result<Principal> Authenticate(Db& db, std::string_view clear_token, TimeMs now);

// Lowercase hex sha256 (what is stored), exposed for tests and log-free comparisons.
std::string TokenHash(std::string_view clear_token);

}  // namespace iot::store

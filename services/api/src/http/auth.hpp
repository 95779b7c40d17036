#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/auth_types.hpp"

namespace iot::api {

// The outcome of a token lookup. Only kUnknown is the client's fault (401); kUnavailable means the
// lookup could not run (DB pool queue full, database down: 503 with Retry-After, so a valid token is
// never answered 401), kLimited that the client address failed too often (429).
struct AuthResult {
  enum class Status { kOk, kUnknown, kUnavailable, kLimited };
  Status status = Status::kUnknown;
  std::optional<Principal> principal;  // set for kOk

  static AuthResult Ok(Principal principal) { return {Status::kOk, std::move(principal)}; }
  static AuthResult Failed(Status status) { return {status, std::nullopt}; }
};

// Resolves a bearer token to a principal. Asynchronous because the store-backed implementation looks
// tokens up in PostgreSQL: `done` may run on any thread, exactly once. `client` is the client's
// address (ClientAddress()), for limits on failed attempts. Implementations never log tokens.
class Authenticator {
 public:
  using Done = std::function<void(AuthResult)>;
  virtual ~Authenticator() = default;
  virtual void Authenticate(std::string_view token, std::string_view client, Done done) = 0;
};

using TokenHash = std::array<unsigned char, 32>;

// SHA-256 of a token: tokens are kept and compared only as hashes.
TokenHash HashToken(std::string_view token);

// Fixed tokens held in memory as hashes (the bootstrap admin token from config; unit tests). Every
// lookup compares against every entry in constant time, so timing reveals nothing about a token.
class StaticTokenAuthenticator final : public Authenticator {
 public:
  void Add(std::string_view token, Principal principal);
  void Authenticate(std::string_view token, std::string_view client, Done done) override;
  std::optional<Principal> Find(std::string_view token) const;

 private:
  struct Entry {
    TokenHash hash;
    Principal principal;
  };
  std::vector<Entry> entries_;  // filled before the server starts, read-only afterwards
};

// Tries `first`, then `second` when the first does not know the token (bootstrap admin token in
// front of the store-backed tokens).
class ChainAuthenticator final : public Authenticator {
 public:
  ChainAuthenticator(Authenticator& first, Authenticator& second) : first_(first), second_(second) {}
  void Authenticate(std::string_view token, std::string_view client, Done done) override;

 private:
  Authenticator& first_;
  Authenticator& second_;
};

// Extracts the token from "Authorization: Bearer <token>" (scheme case-insensitive); empty if absent.
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace iot::api

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

// Resolves a bearer token to a principal. Asynchronous because the store-backed implementation looks
// tokens up in PostgreSQL: `done` may run on any thread, exactly once; nullopt means missing, unknown
// or expired (all answered 401). Implementations never log tokens.
class Authenticator {
 public:
  using Done = std::function<void(std::optional<Principal>)>;
  virtual ~Authenticator() = default;
  virtual void Authenticate(std::string_view token, Done done) = 0;
};

using TokenHash = std::array<unsigned char, 32>;

// SHA-256 of a token: tokens are kept and compared only as hashes.
TokenHash HashToken(std::string_view token);

// Fixed tokens held in memory as hashes (the bootstrap admin token from config; unit tests). Every
// lookup compares against every entry in constant time, so timing reveals nothing about a token.
class StaticTokenAuthenticator final : public Authenticator {
 public:
  void Add(std::string_view token, Principal principal);
  void Authenticate(std::string_view token, Done done) override;
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
  void Authenticate(std::string_view token, Done done) override;

 private:
  Authenticator& first_;
  Authenticator& second_;
};

// Extracts the token from "Authorization: Bearer <token>" (scheme case-insensitive); empty if absent.
std::string_view BearerToken(std::string_view authorization_header);

}  // namespace iot::api

#pragma once

#include "http/auth.hpp"
#include "iot/store/pool.hpp"

namespace iot::api {

// Tokens kept (hashed) in PostgreSQL. The lookup runs on the DB pool, never on the I/O thread, and
// is not cached: a revoked or expired token fails on its next request. A full pool queue or a
// database error also answers "not authenticated" (logged), since the Authenticator interface has
// no third outcome.
class StoreAuthenticator final : public Authenticator {
 public:
  explicit StoreAuthenticator(store::DbPool& pool) : pool_(pool) {}
  void Authenticate(std::string_view token, Done done) override;

 private:
  store::DbPool& pool_;
};

}  // namespace iot::api

#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "iot/common/result.hpp"

namespace iot::store {

namespace detail {
class Connection;  // src/connection.hpp: the pqxx::connection with its prepared statements
}

struct DbSettings {
  std::string dsn;  // libpq connection string or postgresql:// URI
  // Reconnect backoff: after a failed connect, calls fail fast with kUnavailable until the next attempt
  // is due; the delay doubles from min to max and resets on success.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  std::chrono::milliseconds statement_timeout{30000};  // SET statement_timeout after each connect
  std::string application_name = "iot";
};

// One PostgreSQL connection with every statement of the store prepared once after each (re)connect.
// Not thread-safe: exactly one thread uses a Db at a time (a DbPool worker, the gateway writer thread,
// the broker plugin's background thread). Every repository function takes a Db&.
//
// The constructor does not connect. Repository calls connect lazily and reconnect after a broken
// connection (honouring the backoff); while the server is away they return Errc::kUnavailable.
class Db final {
 public:
  explicit Db(DbSettings settings);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Connects now if not connected (respecting the backoff unless `force`).
  Result<void> Connect(bool force = false);
  bool IsConnected() const;
  // Round trip `SELECT 1` (readiness probes).
  Result<void> Ping();
  // Drops the connection (tests, shutdown).
  void Disconnect();
  const DbSettings& Settings() const { return settings_; }

  // For libs/store internals only.
  detail::Connection& ConnectionForStore() { return *conn_; }

 private:
  DbSettings settings_;
  std::unique_ptr<detail::Connection> conn_;
};

}  // namespace iot::store

#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"

namespace iot::store {

// One forward-only migration, embedded at build time from schemas/sql/NNN_name.sql.
struct Migration {
  int version = 0;
  std::string_view name;  // file name, e.g. "001_init.sql"
  std::string_view sql;
};

// All embedded migrations in version order (the binary needs no source tree at run time).
const std::vector<Migration>& EmbeddedMigrations();
int LatestKnownSchemaVersion();

struct MigrationReport {
  int from_version = 0;              // version found (0 = empty database)
  int to_version = 0;                // version after the call
  std::vector<std::string> applied;  // file names applied now
};

// Applies the embedded migrations to the database at `dsn`: under a transaction-level advisory lock
// (services starting together serialise; the second one finds nothing to do), each pending file in its
// own transaction, recorded in schema_version. A database whose version is above what the binary knows
// is refused with Errc::kVersionMismatch; LastError() then says so in words.
class Migrator final {
 public:
  explicit Migrator(std::string dsn);

  // Migrates to the latest embedded version.
  Result<MigrationReport> Migrate();
  // Migrates up to `target_version` only (tests: build an "older" schema).
  Result<MigrationReport> MigrateTo(int target_version);
  // Version recorded in schema_version (0 when the table is absent).
  Result<int> CurrentVersion();
  // Human-readable reason of the last failure ("" after success).
  const std::string& LastError() const { return last_error_; }

 private:
  std::string dsn_;
  std::string last_error_;
};

}  // namespace iot::store

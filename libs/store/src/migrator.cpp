#include "iot/store/migrator.hpp"

#include <algorithm>
#include <set>

#include "connection.hpp"

namespace iot::store {
namespace {

// pg_advisory_xact_lock key shared by every process that migrates this database.
constexpr std::int64_t kMigrationLockKey = 0x696f745f6d696772;  // "iot_migr"

constexpr const char* kCreateVersionTable =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "  version integer PRIMARY KEY,"
    "  name text NOT NULL,"
    "  applied_at timestamptz NOT NULL DEFAULT now())";

int ReadVersion(pqxx::transaction_base& tx) {
  if (tx.exec("SELECT to_regclass('schema_version')")[0][0].is_null()) {
    return 0;
  }
  return tx.exec("SELECT coalesce(max(version), 0) FROM schema_version")[0][0].as<int>();
}

// Versions recorded as applied (a migration added on another branch may sit below the newest one).
std::set<int> AppliedVersions(pqxx::transaction_base& tx) {
  std::set<int> out;
  for (const auto& row : tx.exec("SELECT version FROM schema_version")) {
    out.insert(row[0].as<int>());
  }
  return out;
}

}  // namespace

int LatestKnownSchemaVersion() {
  const auto& all = EmbeddedMigrations();
  return all.empty() ? 0 : all.back().version;
}

Migrator::Migrator(std::string dsn) : dsn_(std::move(dsn)) {}

Result<MigrationReport> Migrator::Migrate() { return MigrateTo(LatestKnownSchemaVersion()); }

Result<MigrationReport> Migrator::MigrateTo(int target_version) {
  last_error_.clear();
  try {
    pqxx::connection conn(dsn_);
    pqxx::work tx(conn);
    // Everything below runs under one transaction-level lock: concurrent starters wait, then find
    // the schema current. A failure rolls back every file of this run.
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec("SET LOCAL lock_timeout = '60s'");
    MigrationReport report;
    report.from_version = ReadVersion(tx);
    if (report.from_version > LatestKnownSchemaVersion()) {
      last_error_ = "database schema version " + std::to_string(report.from_version) +
                    " is newer than this binary supports (" + std::to_string(LatestKnownSchemaVersion()) +
                    "); upgrade the binary instead of downgrading the schema";
      return make_error_code(Errc::kVersionMismatch);
    }
    tx.exec(kCreateVersionTable);
    report.to_version = report.from_version;
    const std::set<int> applied = AppliedVersions(tx);
    for (const auto& m : EmbeddedMigrations()) {
      if (applied.count(m.version) != 0 || m.version > target_version) {
        continue;
      }
      try {
        tx.exec(std::string(m.sql));
      } catch (const pqxx::sql_error& e) {
        last_error_ = std::string(m.name) + ": " + e.what();
        throw;
      }
      tx.exec_params("INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version,
                     std::string(m.name));
      report.applied.emplace_back(m.name);
      report.to_version = std::max(report.to_version, m.version);
    }
    tx.commit();
    return report;
  } catch (...) {
    const Errc code = MapCurrentException(nullptr);
    if (last_error_.empty()) {
      try {
        throw;
      } catch (const std::exception& e) {
        last_error_ = e.what();
      } catch (...) {
        last_error_ = "unknown error";
      }
    }
    return make_error_code(code);
  }
}

Result<int> Migrator::CurrentVersion() {
  try {
    pqxx::connection conn(dsn_);
    pqxx::read_transaction tx(conn);
    return ReadVersion(tx);
  } catch (...) {
    return make_error_code(MapCurrentException(nullptr));
  }
}

}  // namespace iot::store

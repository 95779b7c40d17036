#pragma once

#include <atomic>
#include <set>
#include <span>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "iot/store/db.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "iot/store/types.hpp"
#include "iot/testing/pg_database.hpp"

namespace iot::store::test {

// A fresh, migrated database per test and a Db on it.
struct Fixture {
  iot::testing::PgDatabase pg;
  Db db{DbSettings{.dsn = pg.Dsn()}};
  Fixture() {
    Migrator m(pg.Dsn());
    auto r = m.Migrate();
    INFO(m.LastError());
    REQUIRE(r.has_value());
  }
};

inline constexpr TimeMs kDay = 86400000;
inline constexpr TimeMs kT0 = 1767225600000;  // 2026-01-01T00:00:00Z

// The first column of the first row of `sql` (a count, a size), on a connection of its own.
inline std::int64_t Scalar(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::read_transaction tx(c);
  return tx.exec(sql)[0][0].as<std::int64_t>();
}

// One post of one value at device time `t` (received at `t`), stored through the TelemetryWriter.
inline void WriteOne(Db& db, std::int64_t device, const std::string& id, const std::string& value, TimeMs t,
                     const std::string& message_id) {
  TelemetryWriter w(db);
  TelemetryMessage m;
  m.device_id = device;
  m.message_id = message_id;
  m.received_at = t;
  m.properties.push_back(PropertyItem{id, value, t});
  REQUIRE(w.Write(std::span(&m, 1)).value()[0].outcome == WriteOutcome::kStored);
}

}  // namespace iot::store::test

#pragma once

#include <atomic>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "iot/store/db.hpp"
#include "iot/store/migrator.hpp"
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

}  // namespace iot::store::test

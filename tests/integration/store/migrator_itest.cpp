#include <pqxx/pqxx>

#include "iot/store/errors.hpp"
#include "store_fixture.hpp"

using namespace iot::store;

TEST_CASE("Migrator: fresh database gets every migration, re-run is a no-op", "[store][migrator]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  auto first = m.Migrate();
  REQUIRE(first.has_value());
  CHECK(first->from_version == 0);
  CHECK(first->to_version == LatestKnownSchemaVersion());
  CHECK(first->applied.size() == EmbeddedMigrations().size());
  auto again = m.Migrate();
  REQUIRE(again.has_value());
  CHECK(again->applied.empty());
  CHECK(again->from_version == LatestKnownSchemaVersion());
  CHECK(m.CurrentVersion().value() == LatestKnownSchemaVersion());
}

TEST_CASE("Migrator: an older schema is migrated forward", "[store][migrator]") {
  REQUIRE(LatestKnownSchemaVersion() >= 2);
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(1).has_value());
  CHECK(m.CurrentVersion().value() == 1);
  auto r = m.Migrate();
  REQUIRE(r.has_value());
  CHECK(r->from_version == 1);
  CHECK(r->to_version == LatestKnownSchemaVersion());
  CHECK(r->applied.front() == "002_device_list_index.sql");
}

TEST_CASE("Migrator: a migration below the newest applied one is still applied", "[store][migrator]") {
  REQUIRE(LatestKnownSchemaVersion() >= 3);
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(1).has_value());
  // As when a branch's migration 3 lands after a database already took 2 and 4 from elsewhere.
  REQUIRE(m.MigrateTo(2).has_value());
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    tx.exec("INSERT INTO schema_version (version, name) VALUES (" +
            std::to_string(LatestKnownSchemaVersion()) + ", 'taken elsewhere')");
    tx.commit();
  }
  auto r = m.Migrate();
  REQUIRE(r.has_value());
  REQUIRE_FALSE(r->applied.empty());
  CHECK(r->applied.front() == "003_device_control.sql");
  CHECK(r->to_version == LatestKnownSchemaVersion());
}

TEST_CASE("Migrator: a newer schema is refused with a clear message", "[store][migrator]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.Migrate().has_value());
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    tx.exec("INSERT INTO schema_version (version, name) VALUES (999, '999_future.sql')");
    tx.commit();
  }
  auto r = m.Migrate();
  REQUIRE(r.has_error());
  CHECK(Is(r.error(), Errc::kVersionMismatch));
  CHECK(m.LastError().find("newer") != std::string::npos);
}

TEST_CASE("Migrator: concurrent starters serialise on the advisory lock", "[store][migrator]") {
  iot::testing::PgDatabase pg;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      Migrator m(pg.Dsn());
      if (m.Migrate().has_value()) {
        ++ok;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(ok == 3);
  CHECK(Migrator(pg.Dsn()).CurrentVersion().value() == LatestKnownSchemaVersion());
}

TEST_CASE("Db: unreachable server gives kUnavailable, not an exception", "[store][db]") {
  Db db(DbSettings{.dsn = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"});
  auto r = db.Ping();
  REQUIRE(r.has_error());
  CHECK(Is(r.error(), Errc::kUnavailable));
}

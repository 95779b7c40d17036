#include <pqxx/pqxx>

#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kDay;
using iot::store::test::kT0;

namespace {

std::int64_t Count(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::read_transaction tx(c);
  return tx.exec(sql)[0][0].as<std::int64_t>();
}

void WriteAt(Db& db, std::int64_t device, TimeMs ts, const std::string& id) {
  TelemetryMessage m;
  m.device_id = device;
  m.message_id = id;
  m.received_at = ts;
  m.properties.push_back(PropertyItem{"T", "1", ts});
  m.events.push_back(EventItem{"e", "info", "{}", ts});
  TelemetryWriter w(db);
  REQUIRE(w.Write(std::span(&m, 1)).value()[0].outcome == WriteOutcome::kStored);
}

}  // namespace

TEST_CASE("Partitions: created ahead, idempotent, stray rows moved out of default", "[store][maintenance]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  const auto dev = CreateDevice(f.db, "pk", DeviceCreate{"d", ""}).value().id;
  // Rows for a day without partition land in the default partition...
  WriteAt(f.db, dev, kT0 + 3 * kDay + 5, "stray");
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM property_posts_default") == 1);
  // ...and are moved when that day's partition is created.
  auto r = EnsurePartitions(f.db, kT0);
  REQUIRE(r.has_value());
  CHECK(r->created.size() == 5 * 9);  // 5 tables x (yesterday .. +7 days)
  CHECK(r->moved_from_default == 2);  // history + event
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM property_posts_default") == 0);
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM property_posts_p20260104") == 1);
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM service_calls_p20260108") == 0);
  auto again = EnsurePartitions(f.db, kT0);
  REQUIRE(again.has_value());
  CHECK(again->created.empty());
  // Far-away timestamps still go to the default partition.
  WriteAt(f.db, dev, kT0 + 400 * kDay, "future");
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM property_posts_default") == 1);
}

TEST_CASE("Retention: drops partitions past the longest retention, batch-deletes shorter ones",
          "[store][maintenance]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "long", .name = "L", .retention_days = 5})
              .has_value());
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "short", .name = "S", .retention_days = 2})
              .has_value());
  const auto dl = CreateDevice(f.db, "long", DeviceCreate{"d", ""}).value().id;
  const auto ds = CreateDevice(f.db, "short", DeviceCreate{"d", ""}).value().id;
  REQUIRE(EnsurePartitionsRange(f.db, kT0, 0, 10).has_value());  // days kT0 .. kT0+10
  for (int day = 0; day <= 9; ++day) {
    WriteAt(f.db, dl, kT0 + day * kDay + 1000, "l" + std::to_string(day));
    WriteAt(f.db, ds, kT0 + day * kDay + 1000, "s" + std::to_string(day));
  }
  WriteAt(f.db, ds, kT0 - 100 * kDay, "old-default");  // stray, in the default partition

  const TimeMs now = kT0 + 10 * kDay;  // long keeps days 5..9, short keeps days 8..9
  auto r = ApplyRetention(f.db, now);
  REQUIRE(r.has_value());
  CHECK(!r->busy);
  // Days 0..4 end at or before now - 5 days: dropped in all 5 tables.
  CHECK(r->dropped.size() == 5 * 5);
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_posts_p20260101'") == 0);
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM property_posts_p20260106") == 1);  // long only
  auto hist = [&](std::int64_t dev) {
    return ListPropertyHistory(f.db, dev, "T", TimeQuery{.limit = 1000}).value().items.size();
  };
  CHECK(hist(dl) == 5);
  CHECK(hist(ds) == 2);
  CHECK(ListEvents(f.db, ds, EventFilter{}, TimeQuery{.limit = 1000}).value().items.size() == 2);
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM property_posts_default") == 0);
  CHECK(r->deleted_rows == 2 * 3 + 2);  // short: days 5..7 (history + events) + default rows
  auto again = ApplyRetention(f.db, now);
  CHECK(again->dropped.empty());
  CHECK(again->deleted_rows == 0);
}

TEST_CASE("Dedupe keys older than the window are cleaned", "[store][maintenance]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  const auto dev = CreateDevice(f.db, "pk", DeviceCreate{"d", ""}).value().id;
  WriteAt(f.db, dev, kT0, "1");
  WriteAt(f.db, dev, kT0 + kDedupeWindowMs, "2");
  CHECK(CleanDedupe(f.db, kT0 + kDedupeWindowMs + 1).value() == 1);
  CHECK(Count(f.pg.Dsn(), "SELECT count(*) FROM message_dedupe") == 1);
}

// Issue 24, step 3: hourly rollups (migration 023). Aggregates read from rollups answer as from raw rows;
// late rows are absorbed, also into hours whose raw rows are gone; a writer that read the old horizon
// holds the roll of its hour off; existing data is rolled after the migration; retention drops months.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/store/rollups.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kDay;
using iot::store::test::kT0;
using iot::store::test::Scalar;
using iot::store::test::WriteOne;

namespace {

constexpr TimeMs kHour = 3600000;

std::int64_t MakeDevice(Db& db, const std::string& name) {
  if (!GetProduct(db, "pk").has_value()) {
    REQUIRE(CreateProduct(db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  }
  return CreateDevice(db, "pk", DeviceCreate{name, ""}).value().id;
}

// A sensor-like series: T every `step` from `start`, a float with decimals, plus a string and a bool
// that aggregates ignore. Several messages share a batch; a few posts carry T twice at one time.
void WriteSeries(Db& db, std::int64_t device, TimeMs start, int n, TimeMs step) {
  TelemetryWriter w(db);
  std::vector<TelemetryMessage> batch;
  for (int i = 0; i < n; ++i) {
    TelemetryMessage m;
    m.device_id = device;
    m.message_id = std::to_string(start) + "-" + std::to_string(i);
    m.payload_hash = static_cast<std::uint64_t>(i);
    m.received_at = start + i * step;
    const TimeMs t = start + i * step;
    m.properties.push_back(PropertyItem{"T", std::to_string(20 + (i * 37 % 101) / 8.0), t});
    m.properties.push_back(PropertyItem{"S", "\"text\"", t});
    m.properties.push_back(PropertyItem{"B", i % 2 == 0 ? "true" : "false", t});
    if (i % 17 == 0) {
      m.properties.push_back(PropertyItem{"T", std::to_string(-i), t});
    }
    batch.push_back(std::move(m));
    if (batch.size() == 200) {
      REQUIRE(w.Write(batch).has_value());
      batch.clear();
    }
  }
  if (!batch.empty()) {
    REQUIRE(w.Write(batch).has_value());
  }
}

std::vector<AggregateBucket> Aggregate(Db& db, std::int64_t device, TimeMs from, TimeMs to, TimeMs interval,
                                       const std::string& id = "T") {
  auto r = AggregateProperty(db, device, id, AggregateQuery{from, to, interval});
  REQUIRE(r.has_value());
  return *r;
}

void CheckSame(const std::vector<AggregateBucket>& got, const std::vector<AggregateBucket>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("bucket " << i << " at " << want[i].time);
    CHECK(got[i].time == want[i].time);
    CHECK(got[i].count == want[i].count);
    CHECK(got[i].min == want[i].min);
    CHECK(got[i].max == want[i].max);
    CHECK(got[i].first == want[i].first);
    CHECK(got[i].last == want[i].last);
    CHECK(got[i].avg == Approx(want[i].avg).epsilon(1e-9));
  }
}

// Rounds until nothing is left; while hours wait for older transactions (other tests share the cluster)
// it retries for up to a minute.
RollupReport RollUntilDone(Db& db, TimeMs now, RollupSettings settings = {}) {
  RollupReport total;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = RollUp(db, now, settings);
    REQUIRE(r.has_value());
    REQUIRE_FALSE(r->busy);
    total.hours_rolled += r->hours_rolled;
    total.late_merged += r->late_merged;
    total.created.insert(total.created.end(), r->created.begin(), r->created.end());
    total.dropped.insert(total.dropped.end(), r->dropped.begin(), r->dropped.end());
    if (r->waiting) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (!r->more) {
      return total;
    }
  }
  FAIL("RollUp never finished");
  return total;
}

}  // namespace

TEST_CASE("Rollups: aggregates from hourly rollups answer as from raw rows, late rows are absorbed",
          "[store][rollups]") {
  Fixture f;
  const auto dev = MakeDevice(f.db, "d1");
  const auto other = MakeDevice(f.db, "d2");
  // Three days, a value every 7 minutes (hours hold 8 or 9), and another device's values in between.
  WriteSeries(f.db, dev, kT0, 3 * 24 * 60 / 7, 7 * 60000);
  WriteSeries(f.db, other, kT0 + 3000, 500, 5 * 60000);

  struct Query {
    TimeMs from, to, interval;
  };
  const std::vector<Query> queries = {
      {kT0, kT0 + 3 * kDay, kHour},                            // whole hours
      {kT0 + 25 * 60000, kT0 + 2 * kDay + 17 * 60000, kHour},  // partial hours at both edges
      {kT0, kT0 + 3 * kDay, kDay},                             // daily buckets
      {kT0 + 90 * 60000, kT0 + 2 * kDay, 2 * kHour},           // 2 h buckets, from inside an hour
      {kT0 + 10 * 60000, kT0 + 50 * 60000, kHour},             // less than one whole hour
      {kT0 + kDay, kT0 + 2 * kDay, 15 * 60000},                // not whole hours: raw rows only
  };
  std::vector<std::vector<AggregateBucket>> from_raw;
  for (const auto& q : queries) {
    from_raw.push_back(Aggregate(f.db, dev, q.from, q.to, q.interval));
    REQUIRE_FALSE(from_raw.back().empty());
  }

  // Closed hours: everything up to the hour that ended more than the grace before `now`.
  const TimeMs now = kT0 + 3 * kDay + 1 * kHour + 30 * 60000;
  const auto report = RollUntilDone(f.db, now);
  CHECK(report.hours_rolled == 3 * 24 + 1);
  CHECK(report.created ==
        std::vector<std::string>{"property_rollups_p202601", "property_rollups_daily_p202601"});
  auto status = GetRollupStatus(f.db).value();
  CHECK(status.rolled_until == kT0 + 3 * kDay + kHour);
  CHECK(status.closed_until == kT0 + 3 * kDay + kHour);
  // One rollup row per device, numeric identifier and hour with values ("S" and "B" are not numbers).
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_rollups WHERE identifier <> 'T'") == 0);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_rollups WHERE device_id = " + std::to_string(dev)) == 3 * 24);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_rollups_daily WHERE device_id = " + std::to_string(dev)) == 3);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    INFO("query " << i);
    CheckSame(Aggregate(f.db, dev, queries[i].from, queries[i].to, queries[i].interval), from_raw[i]);
  }

  // The rolled hours are answered from the rollups: without the first day's raw rows, its daily bucket
  // is unchanged (only the first query's partial hour, read from raw rows, would notice).
  {
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    tx.exec_params0("DELETE FROM property_posts WHERE device_id = $1 AND ts < $2::timestamptz", dev,
                    "2026-01-02 00:00:00+00");
    tx.commit();
  }
  CheckSame(Aggregate(f.db, dev, kT0, kT0 + 3 * kDay, kDay), from_raw[2]);

  // Late rows into a rolled hour of the first day (its raw rows are gone): one becomes the hour's first
  // value, one its maximum. They count at once (read with the rollup until merged) and after the merge.
  const TimeMs hour5 = kT0 + 5 * kHour;
  auto hourly = Aggregate(f.db, dev, hour5, hour5 + kHour, kHour);
  REQUIRE(hourly.size() == 1);
  AggregateBucket want = hourly[0];
  WriteOne(f.db, dev, "T", "1000.5", hour5 + 30 * 60000, "late-1");
  WriteOne(f.db, dev, "T", "-3.25", hour5, "late-2");
  WriteOne(f.db, dev, "S", "\"late\"", hour5, "late-3");  // a late row without a number
  CHECK(GetRollupStatus(f.db).value().late_waiting == 3);
  want.count += 2;
  want.max = 1000.5;
  want.min = std::min(want.min, -3.25);
  want.first = -3.25;
  want.avg = (hourly[0].avg * static_cast<double>(hourly[0].count) + 1000.5 - 3.25) /
             static_cast<double>(want.count);
  CheckSame(Aggregate(f.db, dev, hour5, hour5 + kHour, kHour), {want});
  const auto merged = RollUntilDone(f.db, now);
  CHECK(merged.late_merged == 3);
  CHECK(merged.hours_rolled == 0);
  CHECK(GetRollupStatus(f.db).value().late_waiting == 0);
  CheckSame(Aggregate(f.db, dev, hour5, hour5 + kHour, kHour), {want});
  // The day's row took them too.
  AggregateBucket want_day = from_raw[2][0];
  want_day.count += 2;
  want_day.max = 1000.5;
  want_day.min = std::min(want_day.min, -3.25);
  want_day.avg = (from_raw[2][0].avg * static_cast<double>(from_raw[2][0].count) + 1000.5 - 3.25) /
                 static_cast<double>(want_day.count);
  CheckSame(Aggregate(f.db, dev, kT0, kT0 + kDay, kDay), {want_day});

  // Daily buckets read the daily rows: without the second day's hourly rows, its daily bucket stands.
  {
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    tx.exec_params0("DELETE FROM property_rollups WHERE device_id = $1 AND hour >= $2::timestamptz", dev,
                    "2026-01-02 00:00:00+00");
    tx.commit();
  }
  CheckSame(Aggregate(f.db, dev, kT0 + kDay, kT0 + 2 * kDay, kDay), {from_raw[2][1]});

  // A late row of the open hour is not late: it waits for its hour to close like the others.
  WriteOne(f.db, dev, "T", "7", now - 60000, "open-1");
  CHECK(GetRollupStatus(f.db).value().late_waiting == 0);

  // Deleting the device deletes its rollups; the other device keeps its own.
  REQUIRE(DeleteDevice(f.db, "pk", "d1").has_value());
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_rollups WHERE device_id = " + std::to_string(dev)) == 0);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_rollups WHERE device_id = " + std::to_string(other)) > 0);
}

TEST_CASE("Rollups: a writer that inserted before the horizon moved holds the roll of its hour off",
          "[store][rollups]") {
  Fixture f;
  const auto dev = MakeDevice(f.db, "d1");
  WriteSeries(f.db, dev, kT0, 10, 60000);
  // A writer's transaction inserts into the first hour and stays open while the horizon moves past it.
  pqxx::connection writer(f.pg.Dsn());
  pqxx::work open_tx(writer);
  open_tx.exec_params0(
      "INSERT INTO property_posts (device_id, ts, received_at, props) VALUES ($1, $2::timestamptz, now(), "
      "'{\"T\": 500}')",
      dev, "2026-01-01 00:30:00+00");
  const TimeMs now = kT0 + 3 * kHour;
  for (int i = 0; i < 5; ++i) {
    auto r = RollUp(f.db, now);
    REQUIRE(r.has_value());
    CHECK(r->hours_rolled == 0);
    CHECK(r->waiting == (i >= 2));  // after the move and the barrier
  }
  auto status = GetRollupStatus(f.db).value();
  CHECK(status.closed_until == kT0 + 2 * kHour);
  CHECK_FALSE(status.rolled_until.has_value());
  // Its row was not listed as late (it read the old horizon); once it commits, the roll goes on and
  // the row is in the hour's rollup.
  open_tx.commit();
  CHECK(GetRollupStatus(f.db).value().late_waiting == 0);
  RollUntilDone(f.db, now);
  CHECK(GetRollupStatus(f.db).value().rolled_until == kT0 + 2 * kHour);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count FROM property_rollups WHERE hour = '2026-01-01 00:00:00+00'") == 12);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT max::bigint FROM property_rollups WHERE hour = '2026-01-01 00:00:00+00'") == 500);
  // Only one process rolls at a time: a second one holding the lock makes RollUp report busy.
  pqxx::connection other(f.pg.Dsn());
  pqxx::work lock_tx(other);
  lock_tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(0x696f745f726f6c6cLL) + ")");
  auto busy = RollUp(f.db, now);
  REQUIRE(busy.has_value());
  CHECK(busy->busy);
}

TEST_CASE("Rollups: existing history is rolled after migration 023, retention drops whole months",
          "[store][rollups][migration]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(22).has_value());
  Db db{DbSettings{.dsn = pg.Dsn()}};
  const auto dev = MakeDevice(db, "d1");
  // Two months of history under 022 (January and February 2026), a value every 6 hours.
  WriteSeries(db, dev, kT0, 59 * 4, 6 * kHour);
  REQUIRE(m.Migrate().has_value());
  CHECK_FALSE(GetRollupStatus(db).value().rolled_until.has_value());
  // Nothing rolled yet: these are read from raw rows.
  const auto jan_raw = Aggregate(db, dev, kT0, kT0 + 31 * kDay, kDay);
  const auto feb_raw = Aggregate(db, dev, kT0 + 31 * kDay, kT0 + 59 * kDay, kDay);
  REQUIRE(jan_raw.size() == 31);
  const TimeMs now = kT0 + 59 * kDay + kHour;
  const auto report = RollUntilDone(db, now);
  CHECK(report.hours_rolled == 59 * 24);
  CHECK(report.created ==
        std::vector<std::string>{"property_rollups_p202601", "property_rollups_daily_p202601",
                                 "property_rollups_p202602", "property_rollups_daily_p202602"});
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_rollups") == 59 * 4);
  CheckSame(Aggregate(db, dev, kT0, kT0 + 31 * kDay, kDay), jan_raw);
  CheckSame(Aggregate(db, dev, kT0 + 31 * kDay, kT0 + 59 * kDay, kDay), feb_raw);

  // 40 days later with a 60-day retention (kept from February 9): January, wholly older, is dropped and
  // its hours are read from raw rows again; February's kept hours are still read from their rollups.
  RollupSettings settings;
  settings.retention_days = 60;
  const auto later = RollUntilDone(db, kT0 + 99 * kDay, settings);
  CHECK(later.dropped == std::vector<std::string>{"property_rollups_p202601"});
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_rollups_p202601'") == 0);
  CheckSame(Aggregate(db, dev, kT0, kT0 + 31 * kDay, kDay), jan_raw);
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    tx.exec0("DELETE FROM property_posts WHERE ts >= '2026-02-20 00:00:00+00'");
    tx.commit();
  }
  CheckSame(Aggregate(db, dev, kT0 + 31 * kDay, kT0 + 59 * kDay, kDay), feb_raw);
}

// Issue 24, step 4: compaction of closed days into compressed blocks (migration 025). Every read answers
// the same before and after (history pages and their cursors, aggregates with and without rollups); late
// rows wait for the rollups, then join their day's blocks; the emptied partitions give their space back;
// retention and device deletion take blocks too; a populated database compacts after the upgrade.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "iot/store/compaction.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/maintenance.hpp"
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

void Exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::work tx(c);
  tx.exec0(sql);
  tx.commit();
}

std::int64_t MakeDevice(Db& db, const std::string& name, const std::string& product = "pk",
                        int retention_days = 30) {
  if (!GetProduct(db, product).has_value()) {
    REQUIRE(CreateProduct(
                db, ProductCreate{.product_key = product, .name = "P", .retention_days = retention_days})
                .has_value());
  }
  return CreateDevice(db, product, DeviceCreate{name, ""}).value().id;
}

// T (a float with decimals, twice at one time in every 17th post), S (text), B (bool) and, in every 5th
// post, P (a struct) every `step` from `start`; several posts a batch.
void WriteSeries(Db& db, std::int64_t device, TimeMs start, int n, TimeMs step) {
  TelemetryWriter w(db);
  std::vector<TelemetryMessage> batch;
  for (int i = 0; i < n; ++i) {
    TelemetryMessage m;
    m.device_id = device;
    m.message_id = std::to_string(device) + "-" + std::to_string(start) + "-" + std::to_string(i);
    m.payload_hash = static_cast<std::uint64_t>(i);
    const TimeMs t = start + i * step;
    m.received_at = t + 40;
    m.properties.push_back(PropertyItem{"T", std::to_string(20 + (i * 37 % 101) / 8.0), t});
    m.properties.push_back(PropertyItem{"S", "\"text " + std::to_string(i % 3) + "\"", t});
    m.properties.push_back(PropertyItem{"B", i % 2 == 0 ? "true" : "false", t});
    if (i % 5 == 0) {
      m.properties.push_back(PropertyItem{"P", "{\"lat\": 30.25, \"n\": [1, 2.50]}", t});
    }
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

// Every page of a history query: values, times and the cursors handed out.
struct Walk {
  std::vector<std::pair<std::string, TimeMs>> values;
  std::vector<std::string> cursors;
  bool operator==(const Walk&) const = default;
};

Walk WalkHistory(Db& db, std::int64_t device, const std::string& id, TimeQuery q) {
  Walk out;
  for (int pages = 0; pages < 10000; ++pages) {
    auto page = ListPropertyHistory(db, device, id, q);
    REQUIRE(page.has_value());
    for (const auto& s : page->items) {
      out.values.emplace_back(s.value_json, s.time);
    }
    if (!page->next_cursor) {
      return out;
    }
    out.cursors.push_back(*page->next_cursor);
    q.cursor = *page->next_cursor;
  }
  FAIL("history pages never ended");
  return out;
}

struct Reads {
  std::vector<Walk> walks;
  std::vector<std::vector<AggregateBucket>> aggregates;
};

// The reads compared before and after compaction: pages of 1 to 1000 values both ways over the whole
// range and windows with edges inside days; aggregates by hour (edges inside hours), day, 15 minutes.
Reads ReadAll(Db& db, std::int64_t device) {
  Reads r;
  const std::vector<TimeQuery> queries = {
      {.order = Order::kAsc, .limit = 97},
      {.order = Order::kDesc, .limit = 1000},
      {.from = kT0 + 7 * kHour + 1, .to = kT0 + 2 * kDay + 5 * kHour, .order = Order::kAsc, .limit = 50},
      {.from = kT0 + 7 * kHour, .to = kT0 + 2 * kDay + 5 * kHour, .order = Order::kDesc, .limit = 33},
      {.from = kT0 + kDay, .to = kT0 + kDay + 1, .order = Order::kAsc, .limit = 1},
  };
  for (const char* id : {"T", "S", "B", "P", "absent"}) {
    for (const auto& q : queries) {
      r.walks.push_back(WalkHistory(db, device, id, q));
    }
  }
  struct Agg {
    TimeMs from, to, interval;
  };
  for (const auto& q :
       {Agg{kT0 + 25 * 60000, kT0 + 2 * kDay + 17 * 60000, kHour}, Agg{kT0, kT0 + 3 * kDay, kDay},
        Agg{kT0 + kDay, kT0 + 2 * kDay, 15 * 60000}, Agg{kT0 - kDay, kT0 + 4 * kDay, 6 * kHour}}) {
    auto a = AggregateProperty(db, device, "T", AggregateQuery{q.from, q.to, q.interval});
    REQUIRE(a.has_value());
    r.aggregates.push_back(*a);
  }
  return r;
}

void CheckSame(const Reads& got, const Reads& want) {
  REQUIRE(got.walks.size() == want.walks.size());
  for (std::size_t i = 0; i < got.walks.size(); ++i) {
    INFO("history query " << i);
    CHECK(got.walks[i].values.size() == want.walks[i].values.size());
    CHECK(got.walks[i] == want.walks[i]);
  }
  REQUIRE(got.aggregates.size() == want.aggregates.size());
  for (std::size_t i = 0; i < got.aggregates.size(); ++i) {
    INFO("aggregate " << i);
    REQUIRE(got.aggregates[i].size() == want.aggregates[i].size());
    for (std::size_t j = 0; j < got.aggregates[i].size(); ++j) {
      const auto& g = got.aggregates[i][j];
      const auto& w = want.aggregates[i][j];
      CHECK(g.time == w.time);
      CHECK(g.count == w.count);
      CHECK(g.min == w.min);
      CHECK(g.max == w.max);
      CHECK(g.first == w.first);
      CHECK(g.last == w.last);
      CHECK(g.avg == Approx(w.avg).epsilon(1e-9));
    }
  }
}

void RollUntilDone(Db& db, TimeMs now) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = RollUp(db, now);
    REQUIRE(r.has_value());
    if (r->waiting) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else if (!r->more) {
      return;
    }
  }
  FAIL("RollUp never finished");
}

// Rounds until no day is left; VACUUM may find rows other tests' snapshots still see, so the emptied
// partitions are retried for up to a minute.
CompactionReport CompactUntilDone(Db& db, TimeMs now, std::size_t partitions_emptied) {
  CompactionReport total;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = CompactHistory(db, now);
    REQUIRE(r.has_value());
    REQUIRE_FALSE(r->busy);
    total.rows += r->rows;
    total.values += r->values;
    total.blocks += r->blocks;
    total.emptied.insert(total.emptied.end(), r->emptied.begin(), r->emptied.end());
    if (!r->more && total.emptied.size() >= partitions_emptied) {
      return total;
    }
    if (!r->more) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  FAIL("compaction never emptied " << partitions_emptied << " partitions");
  return total;
}

}  // namespace

TEST_CASE("Compaction: closed days move into blocks and every read answers the same", "[store][compaction]") {
  Fixture f;
  // Daily partitions from Dec 31 to Jan 5 (the writer would put rows of other days in the default one).
  REQUIRE(EnsurePartitionsRange(f.db, kT0 + 3 * kDay, 4, 2).has_value());
  const auto dev = MakeDevice(f.db, "d1");
  const auto other = MakeDevice(f.db, "d2");
  // Three days a post every 7 minutes, and another device in between.
  WriteSeries(f.db, dev, kT0, 3 * 24 * 60 / 7, 7 * 60000);
  WriteSeries(f.db, other, kT0 + 3000, 500, 5 * 60000);
  const std::string dev_sql = std::to_string(dev);
  const auto rows_before = Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts");
  const Reads before = ReadAll(f.db, dev);
  REQUIRE(before.walks[0].values.size() > 600);

  // Nothing is compacted before its hours are rolled up.
  const TimeMs now = kT0 + 3 * kDay + 30 * 60000;
  auto none = CompactHistory(f.db, now);
  REQUIRE(none.has_value());
  CHECK(none->rows == 0);

  // Rolled up to Jan 4 00:00; a day is compacted an hour after its end: Jan 1 and Jan 2, not Jan 3.
  RollUntilDone(f.db, now);
  const auto report = CompactUntilDone(f.db, now, 2);
  CHECK(report.emptied == std::vector<std::string>{"property_posts_p20260101", "property_posts_p20260102"});
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts WHERE ts < '2026-01-03'") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts WHERE ts >= '2026-01-03'") > 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts") + report.rows == rows_before);
  CHECK(Scalar(f.pg.Dsn(), "SELECT sum(rows) FROM property_blocks") == report.rows);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_blocks WHERE ts_last >= '2026-01-03'") == 0);
  // 2,048 rows a block at most: two devices and two days, Jan 1 of d1 is 206 rows.
  CHECK(Scalar(f.pg.Dsn(), "SELECT max(rows) FROM property_blocks") <= 2048);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_blocks") == 4);
  // The emptied partitions gave their space back.
  CHECK(Scalar(f.pg.Dsn(), "SELECT pg_relation_size('property_posts_p20260101')") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT pg_indexes_size('property_posts_p20260101')") < 64 * 1024);

  CheckSame(ReadAll(f.db, dev), before);

  // A late row into compacted Jan 1 waits in rollup_pending as a row, counted by every read at once;
  // once merged into its hour, the next round moves it into the device's blocks of that day.
  WriteOne(f.db, dev, "T", "1000.5", kT0 + 5 * kHour + 30 * 60000, "late-1");
  const Reads with_late = ReadAll(f.db, dev);
  CHECK(with_late.walks[0].values.size() == before.walks[0].values.size() + 1);
  CHECK(CompactHistory(f.db, now).value().rows == 0);
  RollUntilDone(f.db, now);
  const auto again = CompactUntilDone(f.db, now, 1);
  CHECK(again.rows == 1);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts WHERE ts < '2026-01-03'") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_blocks") == 4);
  CheckSame(ReadAll(f.db, dev), with_late);

  // A block that does not decode is an error for the read that needs it, never a crash.
  Exec(f.pg.Dsn(),
       "UPDATE property_blocks SET data = '\\x01ffff' WHERE device_id = " + std::to_string(other));
  CHECK_FALSE(ListPropertyHistory(f.db, other, "T", TimeQuery{.order = Order::kAsc}).has_value());
  CHECK(ListPropertyHistory(f.db, dev, "T", TimeQuery{.order = Order::kAsc}).has_value());

  // Deleting a device deletes its blocks.
  REQUIRE(DeleteDevice(f.db, "pk", "d1").has_value());
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_blocks WHERE device_id = " + dev_sql) == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_blocks") == 2);
}

TEST_CASE("Compaction: retention takes compacted days whole, a shorter product retention whole blocks",
          "[store][compaction]") {
  Fixture f;
  REQUIRE(EnsurePartitionsRange(f.db, kT0 + 3 * kDay, 4, 2).has_value());
  const auto kept = MakeDevice(f.db, "d1", "long", 10);
  const auto short_lived = MakeDevice(f.db, "d2", "short", 2);
  WriteSeries(f.db, kept, kT0, 3 * 24 * 6, 10 * 60000);
  WriteSeries(f.db, short_lived, kT0, 3 * 24 * 6, 10 * 60000);
  const TimeMs now = kT0 + 3 * kDay + 2 * kHour;
  RollUntilDone(f.db, now);
  CompactUntilDone(f.db, now, 3);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_blocks") == 6);

  // At Jan 4 12:00 "short" (2 days) keeps from Jan 2 12:00: its Jan 1 block (last row Jan 1 23:50) goes,
  // its Jan 2 block stays whole although half of it is older (a block goes once all of it is past).
  auto retention = ApplyRetention(f.db, kT0 + 3 * kDay + 12 * kHour);
  REQUIRE(retention.has_value());
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_blocks WHERE device_id = " + std::to_string(short_lived)) == 2);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_blocks WHERE device_id = " + std::to_string(kept)) == 3);
  auto history = ListPropertyHistory(f.db, short_lived, "T", TimeQuery{.order = Order::kAsc, .limit = 1});
  REQUIRE(history.has_value());
  REQUIRE(history->items.size() == 1);
  CHECK(history->items[0].time == kT0 + kDay);

  // At Jan 13 01:00 the longest retention (10 days) has passed Jan 1 and Jan 2: their partitions, rows
  // and blocks, are dropped; Jan 3 stays for "long" ("short" lost it by its own retention).
  retention = ApplyRetention(f.db, kT0 + 12 * kDay + kHour);
  REQUIRE(retention.has_value());
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_blocks_p20260101'") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_blocks_p20260102'") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_posts_p20260102'") == 0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_blocks_p20260103'") == 1);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_blocks WHERE device_id = " + std::to_string(kept)) == 1);
  CHECK(Scalar(f.pg.Dsn(),
               "SELECT count(*) FROM property_blocks WHERE device_id = " + std::to_string(short_lived)) == 0);
}

TEST_CASE("Compaction: a database populated before migration 025 compacts its closed days after it",
          "[store][compaction][migration]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(24).has_value());
  Db db{DbSettings{.dsn = pg.Dsn()}};
  // Day partitions as 024's maintenance made them (this build's would also make property_blocks ones).
  for (int day = 1; day <= 4; ++day) {
    Exec(pg.Dsn(), "CREATE TABLE property_posts_p2026010" + std::to_string(day) +
                       " PARTITION OF property_posts FOR VALUES FROM ('2026-01-0" + std::to_string(day) +
                       " 00:00:00+00') TO ('2026-01-0" + std::to_string(day + 1) + " 00:00:00+00')");
  }
  const auto dev = MakeDevice(db, "d1");
  WriteSeries(db, dev, kT0, 3 * 24 * 60 / 7, 7 * 60000);
  const TimeMs now = kT0 + 3 * kDay + 30 * 60000;
  RollUntilDone(db, now);
  REQUIRE(m.Migrate().has_value());
  // A blocks partition for every day partition (and the default) there was.
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM pg_inherits WHERE inhparent = 'property_blocks'::regclass") ==
        5);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM pg_class WHERE relname = 'property_blocks_p20260104'") == 1);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_blocks") == 0);
  const Reads before = ReadAll(db, dev);
  CompactUntilDone(db, now, 2);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_posts WHERE ts < '2026-01-03'") == 0);
  CheckSame(ReadAll(db, dev), before);
}

// Issue 24: property history as rows per post, latest values as one row per device, and migration 016
// moving a populated database of per-value rows into them with every read answering the same.
#include <string>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kDay;
using iot::store::test::kT0;
using iot::store::test::Scalar;

namespace {

constexpr int kBeforeRowsPerPost = 15;  // every migration before 016 (whatever other branches number)

struct Sample {
  std::string value;
  TimeMs time = 0;
  bool operator==(const Sample&) const = default;
};

std::vector<Sample> History(Db& db, std::int64_t device, const std::string& id, Order order, int limit) {
  std::vector<Sample> out;
  TimeQuery q;
  q.order = order;
  q.limit = limit;
  while (true) {
    auto page = ListPropertyHistory(db, device, id, q);
    REQUIRE(page.has_value());
    for (const auto& s : page->items) {
      out.push_back({s.value_json, s.time});
    }
    if (!page->next_cursor) {
      return out;
    }
    q.cursor = *page->next_cursor;
  }
}

}  // namespace

TEST_CASE("Rows per post: a post's values share a row per device time, reads answer per property",
          "[store][data]") {
  Fixture f;
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  const auto dev = CreateDevice(f.db, "pk", DeviceCreate{"d1", ""}).value().id;
  TelemetryMessage m;
  m.device_id = dev;
  m.message_id = "1";
  m.received_at = kT0 + 5000;
  // Two values at the post's time, a history item at another time, and one identifier twice at one time.
  m.properties = {{"A", "1", kT0 + 5000},
                  {"B", R"("x\"y")", kT0 + 5000},
                  {"A", "2", kT0 + 1000},
                  {"Odd\"\\Key", "true", kT0 + 5000},
                  {"A", "3", kT0 + 1000}};
  TelemetryWriter w(f.db);
  REQUIRE(w.Write(std::span(&m, 1)).value()[0].outcome == WriteOutcome::kStored);
  // Rows: {A:1,B,Odd} at +5000; {A:2} and {A:3} at +1000.
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts") == 3);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_history") == 5);  // the per-value view
  CHECK(w.Stats().rows == 3);
  CHECK(History(f.db, dev, "A", Order::kAsc, 1) ==
        std::vector<Sample>{{"2", kT0 + 1000}, {"3", kT0 + 1000}, {"1", kT0 + 5000}});
  CHECK(History(f.db, dev, "A", Order::kDesc, 2) ==
        std::vector<Sample>{{"1", kT0 + 5000}, {"3", kT0 + 1000}, {"2", kT0 + 1000}});
  CHECK(History(f.db, dev, "B", Order::kAsc, 10) == std::vector<Sample>{{R"("x\"y")", kT0 + 5000}});
  CHECK(History(f.db, dev, "Odd\"\\Key", Order::kAsc, 10) == std::vector<Sample>{{"true", kT0 + 5000}});
  CHECK(History(f.db, dev, "Missing", Order::kAsc, 10).empty());
  // Latest per identifier: A's newest device time wins within the batch (kT0 + 5000).
  auto latest = GetLatestProperties(f.db, dev).value();
  REQUIRE(latest.size() == 3);
  CHECK(latest[0].identifier == "A");
  CHECK(latest[0].value_json == "1");
  CHECK(latest[0].time == kT0 + 5000);
  CHECK(latest[0].received_at == kT0 + 5000);
  CHECK(latest[1].identifier == "B");
  CHECK(latest[2].identifier == "Odd\"\\Key");

  // A later batch: an older time for A does not replace it, B moves on, C is added; another device's
  // row is its own.
  const auto other = CreateDevice(f.db, "pk", DeviceCreate{"d2", ""}).value().id;
  std::vector<TelemetryMessage> batch(3);
  batch[0].device_id = dev;
  batch[0].received_at = kT0 + 9000;
  batch[0].properties = {{"A", "0", kT0 + 4000}, {"B", "\"new\"", kT0 + 9000}};
  batch[1].device_id = dev;
  batch[1].received_at = kT0 + 9001;
  batch[1].properties = {{"C", "[1,2]", kT0 + 9001}, {"B", "\"older\"", kT0 + 8000}};
  batch[2].device_id = other;
  batch[2].received_at = kT0 + 9000;
  batch[2].properties = {{"A", "42", kT0 + 100}};
  REQUIRE(w.Write(batch).has_value());
  latest = GetLatestProperties(f.db, dev).value();
  REQUIRE(latest.size() == 4);
  CHECK(latest[0].value_json == "1");  // A kept: 4000 < 5000
  CHECK(latest[1].value_json == "\"new\"");
  CHECK(latest[1].time == kT0 + 9000);
  CHECK(latest[2].identifier == "C");
  CHECK(latest[2].value_json == "[1, 2]");
  CHECK(latest[2].received_at == kT0 + 9001);
  CHECK(latest[3].identifier == "Odd\"\\Key");
  CHECK(GetLatestPropertiesOf(f.db, "pk", "d2").value().at(0).value_json == "42");
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM device_latest") == 2);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM latest_values WHERE device_id = " + std::to_string(dev)) ==
        4);

  // Aggregates over the numeric values of one property, from the rows that hold it.
  auto buckets = AggregateProperty(f.db, dev, "A", AggregateQuery{kT0, kT0 + 10000, 10000}).value();
  REQUIRE(buckets.size() == 1);
  CHECK(buckets[0].count == 4);
  CHECK(buckets[0].min == 0);
  CHECK(buckets[0].max == 3);
  CHECK(buckets[0].first == 2);
  CHECK(buckets[0].last == 1);
  CHECK(AggregateProperty(f.db, dev, "B", AggregateQuery{kT0, kT0 + 10000, 10000}).value().empty());

  // Deleting the device deletes its history and its latest row.
  REQUIRE(DeleteDevice(f.db, "pk", "d1").has_value());
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM property_posts WHERE device_id = " + std::to_string(dev)) ==
        0);
  CHECK(Scalar(f.pg.Dsn(), "SELECT count(*) FROM device_latest") == 1);
}

TEST_CASE("Migration 016: per-value history and latest rows move to rows per post and per device",
          "[store][migrator]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(kBeforeRowsPerPost).has_value());
  REQUIRE(m.CurrentVersion().value() < 16);
  std::int64_t d1 = 0, d2 = 0;
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    tx.exec("INSERT INTO products (product_key, name) VALUES ('pk', 'P')");
    d1 = tx.exec(
               "INSERT INTO devices (product_key, device_name, secret) VALUES ('pk', 'd1', 's') RETURNING id")
             [0][0]
                 .as<std::int64_t>();
    d2 = tx.exec(
               "INSERT INTO devices (product_key, device_name, secret) VALUES ('pk', 'd2', 's') RETURNING id")
             [0][0]
                 .as<std::int64_t>();
    tx.exec(
        "CREATE TABLE property_history_p20260101 PARTITION OF property_history "
        "FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-01-02 00:00:00+00')");
    // In id order: post 1 (A, B, A again at the same time), post 2 (A, C), d2's post, an old value that
    // sits in the default partition, and a value of post 1's time from another post (received later).
    const char* insert =
        "INSERT INTO property_history (device_id, identifier, value, ts, received_at) "
        "VALUES ($1, $2, $3::jsonb, iot_ts($4), iot_ts($5))";
    auto row = [&](std::int64_t d, const char* id, const char* v, TimeMs t, TimeMs r) {
      tx.exec_params(insert, d, std::string(id), std::string(v), t, r);
    };
    row(d1, "A", "1", kT0 + 1000, kT0 + 1500);
    row(d1, "B", "\"x\"", kT0 + 1000, kT0 + 1500);
    row(d1, "A", "2", kT0 + 1000, kT0 + 1500);
    row(d1, "A", "3", kT0 + 2000, kT0 + 2500);
    row(d1, "C", R"({"k":[1]})", kT0 + 2000, kT0 + 2500);
    row(d2, "A", "10", kT0 + 1000, kT0 + 1500);
    row(d1, "A", "99", kT0 - 200 * kDay, kT0 - 200 * kDay);
    row(d1, "A", "4", kT0 + 1000, kT0 + 3000);
    const char* latest =
        "INSERT INTO latest_properties (device_id, identifier, value, ts, received_at) "
        "VALUES ($1, $2, $3::jsonb, iot_ts($4), iot_ts($5))";
    tx.exec_params(latest, d1, std::string("A"), std::string("3"), kT0 + 2000, kT0 + 2500);
    tx.exec_params(latest, d1, std::string("B"), std::string("\"x\""), kT0 + 1000, kT0 + 1500);
    tx.exec_params(latest, d2, std::string("A"), std::string("10"), kT0 + 1000, kT0 + 1500);
    tx.commit();
  }
  const auto old_max_id = Scalar(pg.Dsn(), "SELECT max(id) FROM property_history");  // still the table
  auto r = m.Migrate();
  INFO(m.LastError());
  REQUIRE(r.has_value());

  // Rows: d1 {A:1,B} {A:2} at +1000 (received +1500), {A:4} (received +3000), {A:3,C} at +2000,
  // {A:99} in the default partition; d2 {A:10}.
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_posts") == 6);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_history") == 8);  // now the per-value view
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_posts_p20260101") == 5);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM property_posts_default") == 1);
  CHECK(Scalar(pg.Dsn(),
               "SELECT count(*) FROM pg_class WHERE relname LIKE 'property_history%' AND relkind <> 'v'") ==
        0);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM latest_properties") == 0);
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM latest_values") == 3);

  Db db(DbSettings{.dsn = pg.Dsn()});
  const std::vector<Sample> a_asc = {
      {"99", kT0 - 200 * kDay}, {"1", kT0 + 1000}, {"2", kT0 + 1000}, {"4", kT0 + 1000}, {"3", kT0 + 2000}};
  CHECK(History(db, d1, "A", Order::kAsc, 1000) == a_asc);
  CHECK(History(db, d1, "A", Order::kAsc, 1) == a_asc);
  CHECK(History(db, d1, "A", Order::kDesc, 2) == std::vector<Sample>(a_asc.rbegin(), a_asc.rend()));
  CHECK(History(db, d1, "C", Order::kAsc, 10) == std::vector<Sample>{{R"({"k": [1]})", kT0 + 2000}});
  CHECK(History(db, d2, "A", Order::kAsc, 10) == std::vector<Sample>{{"10", kT0 + 1000}});
  auto buckets = AggregateProperty(db, d1, "A", AggregateQuery{kT0, kT0 + 60000, 60000}).value();
  REQUIRE(buckets.size() == 1);
  CHECK(buckets[0].count == 4);
  CHECK(buckets[0].first == 1);
  CHECK(buckets[0].last == 3);

  auto latest = GetLatestProperties(db, d1).value();
  REQUIRE(latest.size() == 2);
  CHECK(latest[0].identifier == "A");
  CHECK(latest[0].value_json == "3");
  CHECK(latest[0].time == kT0 + 2000);
  CHECK(latest[0].received_at == kT0 + 2500);
  CHECK(latest[1].value_json == "\"x\"");
  CHECK(GetLatestPropertiesOf(db, "pk", "d2").value().at(0).value_json == "10");

  // New rows continue the old id sequence (cursors keep their order) and the writer merges into the
  // moved latest row.
  TelemetryMessage msg;
  msg.device_id = d1;
  msg.received_at = kT0 + 5000;
  msg.properties = {{"A", "5", kT0 + 2000}, {"B", "\"y\"", kT0 + 500}};
  REQUIRE(TelemetryWriter(db).Write(std::span(&msg, 1)).value()[0].outcome == WriteOutcome::kStored);
  CHECK(Scalar(pg.Dsn(), "SELECT min(id) FROM property_history WHERE received_at = iot_ts(" +
                             std::to_string(kT0 + 5000) + ")") > old_max_id);
  CHECK(History(db, d1, "A", Order::kDesc, 1).front() == Sample{"5", kT0 + 2000});
  latest = GetLatestProperties(db, d1).value();
  CHECK(latest[0].value_json == "5");      // same device time as the stored one: the newer post wins
  CHECK(latest[1].value_json == "\"x\"");  // older device time: kept

  // A gateway of the previous release, still running during the upgrade, writes per value: its COPY
  // into property_history and its latest upsert land in the new tables.
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    pqxx::stream_to s(tx, "property_history",
                      std::vector<std::string>{"device_id", "identifier", "value", "ts", "received_at"});
    s << std::make_tuple(d2, std::string("A"), std::string("11"), std::string("2026-01-01 00:00:07.000+00"),
                         std::string("2026-01-01 00:00:08.000+00"));
    s << std::make_tuple(d2, std::string("Z"), std::string("\"z\""),
                         std::string("2026-01-01 00:00:07.000+00"),
                         std::string("2026-01-01 00:00:08.000+00"));
    s.complete();
    const std::string upsert =
        "INSERT INTO latest_properties (device_id, identifier, value, ts, received_at) "
        "SELECT d, i, v::jsonb, to_timestamp(t::float8 / 1000), to_timestamp(r::float8 / 1000) "
        "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(d, i, v, t, r) "
        "ON CONFLICT (device_id, identifier) DO UPDATE SET value = excluded.value, ts = excluded.ts, "
        "received_at = excluded.received_at WHERE excluded.ts >= latest_properties.ts";
    tx.exec_params(upsert,
                   "{" + std::to_string(d2) + "," + std::to_string(d2) + "," + std::to_string(d1) + "}",
                   std::string("{A,Z,A}"), std::string(R"({11,"\"z\"",0})"),
                   "{" + std::to_string(kT0 + 7000) + "," + std::to_string(kT0 + 7000) + "," +
                       std::to_string(kT0 + 1) + "}",
                   "{" + std::to_string(kT0 + 8000) + "," + std::to_string(kT0 + 8000) + "," +
                       std::to_string(kT0 + 8000) + "}");
    tx.commit();
  }
  CHECK(History(db, d2, "A", Order::kAsc, 10) == std::vector<Sample>{{"10", kT0 + 1000}, {"11", kT0 + 7000}});
  CHECK(History(db, d2, "Z", Order::kAsc, 10) == std::vector<Sample>{{"\"z\"", kT0 + 7000}});
  auto d2_latest = GetLatestProperties(db, d2).value();
  REQUIRE(d2_latest.size() == 2);
  CHECK(d2_latest[0].value_json == "11");
  CHECK(d2_latest[0].time == kT0 + 7000);
  CHECK(d2_latest[0].received_at == kT0 + 8000);
  CHECK(d2_latest[1].value_json == "\"z\"");
  CHECK(GetLatestProperties(db, d1).value()[0].value_json == "5");  // an older time does not replace it
  CHECK(Scalar(pg.Dsn(), "SELECT count(*) FROM latest_properties") == 0);
}

// The forwarding outbox against a real PostgreSQL: rows written in the telemetry writer's transaction
// (only for stored messages), the reader's snapshot bound (the outbox trap), the lease-fenced cursor,
// dead letters and pruning.
#include <functional>
#include <numeric>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/forwarding.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "iot/testing/env.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kT0;
using nlohmann::json;

namespace {

struct Outbox : Fixture {
  std::int64_t device = 0;
  std::string iot_id;
  std::int64_t rule = 0;
  Outbox() {
    REQUIRE(CreateProduct(db, ProductCreate{.product_key = "fwdpk", .name = "P"}).has_value());
    auto d = CreateDevice(db, "fwdpk", DeviceCreate{"dev1", ""});
    REQUIRE(d.has_value());
    device = d->id;
    iot_id = d->iot_id;
    ForwardRuleCreate create;
    create.name = "r";
    create.kinds = {"property"};
    create.destinations_json = R"([{"type":"webhook","url":"http://127.0.0.1:1/"}])";
    auto r = CreateForwardRule(db, create);
    REQUIRE(r.has_value());
    rule = r->id;
  }
  ForwardMessage Message(int n) const {
    return ForwardMessage{{rule},
                          "property",
                          "/fwdpk/dev1/thing/event/property/post",
                          json{{"n", n}, {"productKey", "fwdpk"}}.dump()};
  }
  // Inserts one outbox row of the rule in an open transaction (as a batch writer does).
  void Insert(pqxx::work& tx, int n) const {
    tx.exec_params(
        "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, "
        "iot_id, payload) VALUES (ARRAY[$1::bigint], 'property', 't', $2, 'fwdpk', 'dev1', '', "
        "jsonb_build_object('n', $3::int))",
        rule, device, n);
  }
  std::vector<int> Read(const ForwardCursor& cursor, int limit = 100) {
    auto rows = ReadOutbox(db, rule, cursor, limit);
    REQUIRE(rows.has_value());
    std::vector<int> out;
    for (const auto& m : *rows) {
      out.push_back(json::parse(m.payload_json)["n"].get<int>());
    }
    return out;
  }
  // Read() once it equals `expected` (another test's transaction on the shared server may hold the
  // snapshot bound back while it runs), else what it last read, after 30 s.
  std::vector<int> ReadUntil(const ForwardCursor& cursor, const std::vector<int>& expected, int limit = 100) {
    std::vector<int> got;
    iot::testing::PollUntil(
        [&] {
          got = Read(cursor, limit);
          return got == expected;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(20));
    return got;
  }
  std::vector<OutboxMessage> Rows(const ForwardCursor& cursor, std::size_t count, int limit = 100) {
    std::vector<OutboxMessage> rows;
    iot::testing::PollUntil(
        [&] {
          rows = ReadOutbox(db, rule, cursor, limit).value();
          return rows.size() == count;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(20));
    return rows;
  }
  std::int64_t Prune(std::int64_t expected) {
    std::int64_t total = 0;
    iot::testing::PollUntil(
        [&] {
          total += PruneOutbox(db, std::chrono::milliseconds(0), 100).value();
          return total >= expected;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(20));
    return total;
  }
  std::int64_t Rows() {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    return tx.exec1("SELECT count(*) FROM forward_outbox")[0].as<std::int64_t>();
  }
};

TelemetryMessage Post(std::int64_t device, const std::string& id, std::vector<ForwardMessage> forward) {
  TelemetryMessage m;
  m.device_id = device;
  m.message_id = id;
  m.payload_hash = std::hash<std::string>{}(id);
  m.received_at = kT0;
  m.properties.push_back(PropertyItem{"A", "1", kT0});
  m.forward = std::move(forward);
  return m;
}

// The rule's first `count` messages from the start, once the cluster's oldest running transaction (any
// test's on the shared server: a migration) no longer holds them back, else what it last read, after 30 s.
std::vector<OutboxMessage> ReadFromStart(Db& db, std::int64_t rule, std::size_t count) {
  std::vector<OutboxMessage> rows;
  iot::testing::PollUntil(
      [&] {
        rows = ReadOutbox(db, rule, ForwardCursor{"0", 0, 0, std::nullopt}, 10).value();
        return rows.size() == count;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(20));
  return rows;
}

}  // namespace

TEST_CASE("Outbox: rows go with the stored messages, in order, with the device's iotId - not for duplicates",
          "[store][forwarding]") {
  Outbox f;
  TelemetryWriter writer(f.db);
  std::vector<TelemetryMessage> batch = {Post(f.device, "1", {f.Message(1)}), Post(f.device, "2", {}),
                                         Post(f.device, "3", {f.Message(3), f.Message(4)})};
  auto r = writer.Write(batch);
  REQUIRE(r.has_value());
  auto cursor = GetForwardCursor(f.db, f.rule);
  REQUIRE(cursor.has_value());
  auto rows = f.Rows(*cursor, 3, 10);
  REQUIRE(rows.size() == 3);
  CHECK(json::parse(rows[0].payload_json) == json{{"n", 1}, {"productKey", "fwdpk"}, {"iotId", f.iot_id}});
  CHECK(rows[0].iot_id == f.iot_id);
  CHECK(rows[0].device_name == "dev1");
  CHECK(rows[0].message_id == std::to_string(rows[0].id));
  CHECK(f.Read(*cursor) == std::vector<int>{1, 3, 4});
  // The same messages again: duplicates, nothing new in the outbox.
  REQUIRE(writer.Write(batch).has_value());
  CHECK(f.Rows() == 3);
  // Another rule's reader sees none of them.
  CHECK(ReadOutbox(f.db, f.rule + 1000, *cursor, 10)->empty());
}

TEST_CASE("Outbox: the iotId goes into any JSON object the gateway wrote, the empty one included",
          "[store][forwarding]") {
  Outbox f;
  TelemetryWriter writer(f.db);
  const std::string nested =
      json{{"s", "a \"quoted\" } value, ü"}, {"o", {{"x", json::array({1, 2})}}}}.dump();
  std::vector<TelemetryMessage> batch = {
      Post(f.device, "1", {ForwardMessage{{f.rule}, "property", "/fwdpk/dev1/t", "{}"}}),
      Post(f.device, "2", {ForwardMessage{{f.rule}, "property", "/fwdpk/dev1/t", nested}})};
  REQUIRE(writer.Write(batch).has_value());
  auto cursor = GetForwardCursor(f.db, f.rule);
  REQUIRE(cursor.has_value());
  auto rows = f.Rows(*cursor, 2, 10);
  REQUIRE(rows.size() == 2);
  CHECK(json::parse(rows[0].payload_json) == json{{"iotId", f.iot_id}});
  json expected = json::parse(nested);
  expected["iotId"] = f.iot_id;
  CHECK(json::parse(rows[1].payload_json) == expected);
}

TEST_CASE("Outbox: a row whose transaction took a lower id but committed later is not skipped",
          "[store][forwarding]") {
  Outbox f;
  const ForwardCursor start = GetForwardCursor(f.db, f.rule).value();
  pqxx::connection a(f.pg.Dsn());
  pqxx::connection b(f.pg.Dsn());
  pqxx::work tx_a(a);
  f.Insert(tx_a, 1);  // the lower id, its transaction still open
  {
    pqxx::work tx_b(b);
    f.Insert(tx_b, 2);
    tx_b.commit();
  }
  // A reader of "id > cursor" would take 2 now and never see 1; this one waits for A to end.
  CHECK(f.Read(start).empty());
  tx_a.commit();
  CHECK(f.ReadUntil(start, {1, 2}) == std::vector<int>{1, 2});
  // A rolled-back transaction leaves nothing behind and holds nothing back.
  {
    pqxx::work tx_c(a);
    f.Insert(tx_c, 3);
    tx_c.abort();
  }
  {
    pqxx::work tx_d(b);
    f.Insert(tx_d, 4);
    tx_d.commit();
  }
  CHECK(f.ReadUntil(start, {1, 2, 4}) == std::vector<int>{1, 2, 4});
}

TEST_CASE("Outbox: rows are read in transaction id order across a decimal digit boundary (8, 9, 10, 11)",
          "[store][forwarding]") {
  Outbox f;
  {
    // Transaction ids as the cluster hands them out, written explicitly: their text order differs.
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    for (const int txid : {11, 10, 9, 8}) {
      tx.exec_params(
          "INSERT INTO forward_outbox (txid, rule_ids, kind, topic, device_id, product_key, device_name, "
          "iot_id, payload) VALUES ($1::text::xid8, ARRAY[$2::bigint], 'property', 't', $3, 'fwdpk', "
          "'dev1', '', jsonb_build_object('n', $1::int))",
          txid, f.rule, f.device);
    }
    tx.commit();
  }
  const ForwardCursor start{"0", 0, 0, std::nullopt};
  CHECK(f.Read(start, 2) == std::vector<int>{8, 9});
  CHECK(f.Read(start) == std::vector<int>{8, 9, 10, 11});
  // The cursor after 9 leaves 10 and 11 to read, and nothing before them.
  auto rows = ReadOutbox(f.db, f.rule, start, 2);
  REQUIRE(rows.has_value());
  const ForwardCursor after{rows->back().txid, rows->back().id, 0, std::nullopt};
  CHECK(f.Read(after) == std::vector<int>{10, 11});
}

TEST_CASE("Outbox: only the lease holder moves the cursor - dead letters - pruning behind every cursor",
          "[store][forwarding]") {
  Outbox f;
  {
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    for (int n = 1; n <= 4; ++n) {
      f.Insert(tx, n);
    }
    tx.commit();
  }
  auto cursor = GetForwardCursor(f.db, f.rule).value();
  auto batch = f.Rows(cursor, 2, 2);
  REQUIRE(batch.size() == 2);
  // Without the lease nothing moves.
  CHECK(AdvanceForwardCursor(f.db, f.rule, "me", batch.back(), 2).value() == CursorMove::kNotMoved);
  CHECK(Is(RecordForwardFailure(f.db, f.rule, "me", "x").error(), Errc::kConflict));
  REQUIRE(AcquireLease(f.db, ForwardLeaseName(f.rule), "me", 60000).value() == LeaseState::kHeld);
  CHECK(AcquireLease(f.db, ForwardLeaseName(f.rule), "other", 60000).value() == LeaseState::kHeldByAnother);
  CHECK(AdvanceForwardCursor(f.db, f.rule, "other", batch.back(), 2).value() == CursorMove::kNotMoved);
  REQUIRE(AdvanceForwardCursor(f.db, f.rule, "me", batch.back(), 2).value() == CursorMove::kMoved);
  // Never backwards, nor twice.
  CHECK(AdvanceForwardCursor(f.db, f.rule, "me", batch.back(), 2).value() == CursorMove::kNotMoved);
  cursor = GetForwardCursor(f.db, f.rule).value();
  CHECK(f.Read(cursor) == std::vector<int>{3, 4});
  // Two failed attempts, then the head message goes to the dead letters.
  auto failed = RecordForwardFailure(f.db, f.rule, "me", "HTTP 503");
  REQUIRE(failed.has_value());
  CHECK(failed->attempts == 1);
  CHECK(failed->failing_since.has_value());
  CHECK(RecordForwardFailure(f.db, f.rule, "me", "HTTP 503")->attempts == 2);
  auto head = ReadOutbox(f.db, f.rule, GetForwardCursor(f.db, f.rule).value(), 1).value();
  REQUIRE(DeadLetterForward(f.db, f.rule, "me", head, 2, "HTTP 503").value() == CursorMove::kMoved);
  cursor = GetForwardCursor(f.db, f.rule).value();
  CHECK(cursor.attempts == 0);
  CHECK_FALSE(cursor.failing_since.has_value());
  CHECK(f.Read(cursor) == std::vector<int>{4});
  auto status = GetForwardStatus(f.db, f.rule).value();
  CHECK(status.delivered == 2);
  CHECK(status.failed == 2);
  CHECK(status.dead == 1);
  CHECK(status.dead_letters == 1);
  CHECK(status.lag_messages == 1);
  CHECK(status.lag_seconds >= 0);
  CHECK(status.last_error == "HTTP 503");
  // Pruning: the three rows behind the cursor go, the waiting one stays.
  CHECK(f.Prune(3) == 3);
  CHECK(f.Rows() == 1);
  // Replay puts the dead letter back behind it, with its first messageId.
  auto letters = ListDeadLetters(f.db, f.rule, {}).value();
  REQUIRE(letters.items.size() == 1);
  CHECK(ReplayDeadLetters(f.db, f.rule, std::nullopt).value() == 1);
  auto again = f.Rows(cursor, 2, 10);
  REQUIRE(again.size() == 2);
  CHECK(json::parse(again[1].payload_json)["n"] == 3);
  CHECK(again[1].message_id == letters.items[0].message_id);
  // Deleting the rule releases its rows.
  REQUIRE(DeleteForwardRule(f.db, f.rule).has_value());
  CHECK(f.Prune(2) == 2);
  CHECK(f.Rows() == 0);
  CHECK(Is(GetForwardStatus(f.db, f.rule).error(), Errc::kNotFound));
}

TEST_CASE(
    "Outbox slots: a writer still in the old slot holds its truncation off - its rows are read in order",
    "[store][forwarding]") {
  Outbox f;
  REQUIRE(AcquireLease(f.db, ForwardLeaseName(f.rule), "me", 60000).value() == LeaseState::kHeld);
  const ForwardCursor start = GetForwardCursor(f.db, f.rule).value();
  auto slot = [&] {
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    return tx.exec1("SELECT slot FROM forward_outbox_state")[0].as<int>();
  };
  auto rows_in = [&](int s) {
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    return tx.exec_params1("SELECT count(*) FROM forward_outbox WHERE slot = $1", s)[0].as<std::int64_t>();
  };
  const int first = slot();
  pqxx::connection a(f.pg.Dsn());
  pqxx::connection b(f.pg.Dsn());
  pqxx::work late(a);
  f.Insert(late, 1);  // in the first slot, its transaction still open
  // The next slot becomes current; the first cannot be emptied while the late writer holds it (nor is it
  // taken: its row is not read yet).
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 0);
  const int second = slot();
  CHECK(second == (first + 1) % 4);
  {
    pqxx::work tx(b);
    f.Insert(tx, 2);
    tx.commit();
  }
  late.commit();
  CHECK(rows_in(first) == 1);
  CHECK(rows_in(second) == 1);
  // Read in transaction order across the slots: the late writer's row first.
  auto rows = f.Rows(start, 2);
  REQUIRE(rows.size() == 2);
  CHECK(json::parse(rows[0].payload_json)["n"] == 1);
  CHECK(json::parse(rows[1].payload_json)["n"] == 2);
  // Only the first row taken: the first slot is emptied when the next rotation leaves it behind; the
  // second slot keeps its row, waiting.
  REQUIRE(AdvanceForwardCursor(f.db, f.rule, "me", rows[0], 1).value() == CursorMove::kMoved);
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 1);
  CHECK(rows_in(first) == 0);
  CHECK(slot() == (second + 1) % 4);
  // A slot with rows is never made current again: two more rotations, then the waiting slot is next and
  // the rotation waits for it.
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 0);
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 0);
  CHECK(slot() == first);
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 0);
  CHECK(slot() == first);
  CHECK(rows_in(second) == 1);
  // Taken, it is emptied, and the rotation after that makes it current.
  REQUIRE(AdvanceForwardCursor(f.db, f.rule, "me", rows[1], 1).value() == CursorMove::kMoved);
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 1);
  CHECK(rows_in(second) == 0);
  CHECK(PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value() == 0);
  CHECK(slot() == second);
  // A slot younger than rotate_after stays current.
  const int now = slot();
  CHECK(PruneOutbox(f.db, std::chrono::hours(1), 100).value() == 0);
  CHECK(slot() == now);
}

namespace {

// A webhook rule and its cursor written with SQL, for a schema older than the store's statements.
std::int64_t InsertRuleWithCursor(pqxx::work& tx) {
  const auto rule = tx.exec1(
                          "INSERT INTO forward_rules (name, kinds, destinations) VALUES ('r', '{property}', "
                          "'[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:1/\"}]') RETURNING id")[0]
                        .as<std::int64_t>();
  tx.exec_params0("INSERT INTO forward_cursors (rule_id) VALUES ($1)", rule);
  return rule;
}

}  // namespace

TEST_CASE("Migration 022 moves a populated outbox into the slots: same rows, ids, order and bodies",
          "[store][forwarding][migration]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(21).has_value());
  std::int64_t rule = 0;
  {
    // 017's outbox, as a running 021 platform leaves it: rows of two transactions, one replayed row with
    // its first messageId, jsonb bodies.
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    rule = InsertRuleWithCursor(tx);
    for (int n = 1; n <= 3; ++n) {
      tx.exec_params0(
          "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, "
          "message_id, payload) VALUES (ARRAY[$1::bigint], 'property', '/pk/d/t', 7, 'pk', 'd', 'iot7', $2, "
          "jsonb_build_object('n', $3::int, 's', 'a \"b\"'))",
          rule, n == 2 ? "first-id" : "", n);
    }
    tx.commit();
    pqxx::work tx2(c);
    tx2.exec_params0(
        "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, "
        "payload) VALUES (ARRAY[$1::bigint], 'property', '/pk/d/t', 7, 'pk', 'd', 'iot7', '{\"n\":4}')",
        rule);
    tx2.commit();
  }
  auto before = [&] {
    pqxx::connection c(pg.Dsn());
    pqxx::read_transaction tx(c);
    std::vector<std::tuple<std::int64_t, std::string, std::string, std::string>> rows;
    for (const auto& r :
         tx.exec("SELECT id, txid::text, message_id, payload::jsonb::text FROM forward_outbox "
                 "ORDER BY txid, id")) {
      rows.emplace_back(r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                        r[3].as<std::string>());
    }
    return rows;
  };
  const auto old_rows = before();
  REQUIRE(old_rows.size() == 4);
  Migrator latest(pg.Dsn());
  REQUIRE(latest.Migrate().has_value());
  CHECK(before() == old_rows);  // ids, transaction ids, messageIds, bodies (compared as jsonb)
  Db db{DbSettings{.dsn = pg.Dsn()}};
  auto rows = ReadFromStart(db, rule, 4);
  REQUIRE(rows.size() == 4);
  CHECK(rows[1].message_id == "first-id");
  CHECK(rows[0].message_id == std::to_string(rows[0].id));
  CHECK(json::parse(rows[0].payload_json) == json{{"n", 1}, {"s", "a \"b\""}});
  // New rows take ids after the moved ones, in the current slot.
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    auto r = tx.exec_params1(
        "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, "
        "payload) VALUES (ARRAY[$1::bigint], 'property', '/pk/d/t', 7, 'pk', 'd', 'iot7', '{}') "
        "RETURNING id, slot",
        rule);
    CHECK(r[0].as<std::int64_t>() > std::get<0>(old_rows.back()));
    CHECK(r[1].as<int>() == 0);
    tx.commit();
  }
}

namespace {

ForwardMessage Identified(ForwardMessage m, const std::string& iot_id) {
  m.product_key = "fwdpk";
  m.device_name = "dev1";
  m.iot_id = iot_id;
  return m;
}

std::vector<std::int64_t> PackSizes(Outbox& f) {
  pqxx::connection c(f.pg.Dsn());
  pqxx::work tx(c);
  std::vector<std::int64_t> out;
  for (const auto& r : tx.exec("SELECT n FROM forward_outbox WHERE kind = 'pack' ORDER BY txid, id")) {
    out.push_back(r[0].as<std::int64_t>());
  }
  return out;
}

}  // namespace

TEST_CASE(
    "Outbox packs: a rule's messages of a transaction in one row, each with its own id - read, "
    "dead-lettered and replayed one by one, pruned once the last is taken",
    "[store][forwarding]") {
  Outbox f;
  ForwardRuleCreate create;
  create.name = "second";
  create.kinds = {"property"};
  create.destinations_json = R"([{"type":"webhook","url":"http://127.0.0.1:1/"}])";
  const std::int64_t rule2 = CreateForwardRule(f.db, create).value().id;
  auto both = [&](int n) {
    auto m = Identified(f.Message(n), f.iot_id);
    m.rule_ids = {f.rule, rule2};
    return m;
  };
  // Fields a length-prefixed record must keep apart: digits and colons in the topic and the body.
  auto hostile = Identified(f.Message(3), f.iot_id);
  hostile.topic = "/fwdpk/dev1/user/12:34:";
  hostile.payload_json = json{{"n", 3}, {"s", "5:abc 0: \"q\" ü"}}.dump();
  TelemetryWriter writer(f.db);
  std::vector<TelemetryMessage> batch = {Post(f.device, "1", {Identified(f.Message(1), f.iot_id)}),
                                         Post(f.device, "2", {both(2), hostile}),
                                         Post(f.device, "3", {both(4)})};
  REQUIRE(writer.Write(batch).has_value());
  CHECK(PackSizes(f) == std::vector<std::int64_t>{4, 2});  // the rules' packs, in id order
  {
    // A pack's topic is NULL, so a reader of the previous release (an upgrade in progress) fails on it
    // instead of delivering the pack as one message.
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    CHECK(
        tx.exec1("SELECT count(*) FROM forward_outbox WHERE kind = 'pack' AND topic IS NULL")[0].as<int>() ==
        2);
    CHECK_THROWS_AS(
        tx.exec1("SELECT topic FROM forward_outbox WHERE kind = 'pack' LIMIT 1")[0].as<std::string>(),
        pqxx::conversion_error);
  }
  const ForwardCursor start = GetForwardCursor(f.db, f.rule).value();
  auto rows = f.Rows(start, 4, 10);
  REQUIRE(rows.size() == 4);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].id == rows[0].id + static_cast<std::int64_t>(i));
    CHECK(rows[i].message_id == std::to_string(rows[i].id));
    CHECK(rows[i].txid == rows[0].txid);
    CHECK(rows[i].device_id == f.device);
    CHECK(rows[i].product_key == "fwdpk");
    CHECK(rows[i].device_name == "dev1");
    CHECK(rows[i].iot_id == f.iot_id);
    CHECK(rows[i].kind == "property");
    CHECK(json::parse(rows[i].payload_json)["iotId"] == f.iot_id);
  }
  CHECK(rows[2].topic == "/fwdpk/dev1/user/12:34:");
  CHECK(json::parse(rows[2].payload_json) == json{{"iotId", f.iot_id}, {"n", 3}, {"s", "5:abc 0: \"q\" ü"}});
  CHECK(f.Read(start) == std::vector<int>{1, 2, 3, 4});
  CHECK(f.Read(start, 2) == std::vector<int>{1, 2});
  // The other rule reads its own copies (its pack's ids).
  auto second = ReadOutbox(f.db, rule2, GetForwardCursor(f.db, rule2).value(), 10).value();
  REQUIRE(second.size() == 2);
  CHECK(json::parse(second[0].payload_json)["n"] == 2);
  CHECK(json::parse(second[1].payload_json)["n"] == 4);
  CHECK(second[0].id != rows[1].id);

  // The cursor inside the pack: the rest of it is read, the pack waits.
  REQUIRE(AcquireLease(f.db, ForwardLeaseName(f.rule), "me", 60000).value() == LeaseState::kHeld);
  REQUIRE(AdvanceForwardCursor(f.db, f.rule, "me", rows[1], 2).value() == CursorMove::kMoved);
  auto cursor = GetForwardCursor(f.db, f.rule).value();
  CHECK(cursor.last_id == rows[1].id);
  CHECK(f.Read(cursor) == std::vector<int>{3, 4});
  CHECK(GetForwardStatus(f.db, f.rule).value().lag_messages == 2);
  CHECK(GetForwardStatus(f.db, rule2).value().lag_messages == 2);
  // The head alone to the dead letters; the next read starts after it.
  auto head = ReadOutbox(f.db, f.rule, cursor, 1).value();
  REQUIRE(head.size() == 1);
  CHECK(head[0].id == rows[2].id);
  REQUIRE(DeadLetterForward(f.db, f.rule, "me", head, 3, "HTTP 400").value() == CursorMove::kMoved);
  cursor = GetForwardCursor(f.db, f.rule).value();
  CHECK(f.Read(cursor) == std::vector<int>{4});
  auto letters = ListDeadLetters(f.db, f.rule, {}).value();
  REQUIRE(letters.items.size() == 1);
  CHECK(letters.items[0].outbox_id == rows[2].id);
  CHECK(letters.items[0].message_id == rows[2].message_id);
  CHECK(letters.items[0].topic == "/fwdpk/dev1/user/12:34:");
  CHECK(json::parse(letters.items[0].payload_json)["s"] == "5:abc 0: \"q\" ü");
  // Nothing pruned while a message of each pack waits (this rule's last, the other rule's both).
  PruneOutbox(f.db, std::chrono::milliseconds(0), 100).value();
  CHECK(PackSizes(f).size() == 2);
  // Replayed: behind the waiting message, with its first messageId.
  CHECK(ReplayDeadLetters(f.db, f.rule, std::nullopt).value() == 1);
  auto again = f.Rows(cursor, 2, 10);
  REQUIRE(again.size() == 2);
  CHECK(json::parse(again[0].payload_json)["n"] == 4);
  CHECK(again[1].message_id == rows[2].message_id);
  CHECK(again[1].topic == "/fwdpk/dev1/user/12:34:");
  CHECK(GetForwardStatus(f.db, f.rule).value().lag_messages == 2);
  // This rule takes everything: its pack is deleted (the other rule's waits in the same slot).
  REQUIRE(AdvanceForwardCursor(f.db, f.rule, "me", again[1], 2).value() == CursorMove::kMoved);
  CHECK(f.Prune(2) >= 2);
  CHECK(PackSizes(f) == std::vector<std::int64_t>{2});
  CHECK(f.Read(GetForwardCursor(f.db, f.rule).value()).empty());
}

TEST_CASE("Outbox packs: a pack holds at most 256 messages - a long batch is several, read in order",
          "[store][forwarding]") {
  Outbox f;
  TelemetryWriter writer(f.db);
  std::vector<TelemetryMessage> batch;
  for (int n = 0; n < 300; ++n) {
    batch.push_back(Post(f.device, std::to_string(n), {Identified(f.Message(n), f.iot_id)}));
  }
  REQUIRE(writer.Write(batch).has_value());
  CHECK(PackSizes(f) == std::vector<std::int64_t>{256, 44});
  const ForwardCursor start = GetForwardCursor(f.db, f.rule).value();
  std::vector<int> expected(300);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(f.ReadUntil(start, expected, 500) == expected);
  // A limit inside the second pack, and a cursor at the end of the first one.
  std::vector<int> first_260(expected.begin(), expected.begin() + 260);
  CHECK(f.Read(start, 260) == first_260);
  auto rows = ReadOutbox(f.db, f.rule, start, 256).value();
  REQUIRE(rows.size() == 256);
  const ForwardCursor after{rows.back().txid, rows.back().id, 0, std::nullopt};
  CHECK(f.Read(after, 500) == std::vector<int>(expected.begin() + 256, expected.end()));
  CHECK(GetForwardStatus(f.db, f.rule).value().lag_messages == 300);
  // A row a message after the packs: a limit that the packs fill leaves it for the next read.
  {
    pqxx::connection c(f.pg.Dsn());
    pqxx::work tx(c);
    f.Insert(tx, 300);
    tx.commit();
  }
  expected.push_back(300);
  CHECK(f.ReadUntil(start, expected, 500) == expected);
  CHECK(f.Read(start, 300) == std::vector<int>(expected.begin(), expected.begin() + 300));
  // The packs are stored compressed (lz4).
  pqxx::connection c(f.pg.Dsn());
  pqxx::work tx(c);
  CHECK(tx.exec1("SELECT string_agg(DISTINCT coalesce(pg_column_compression(payload), 'none'), ',') "
                 "FROM forward_outbox WHERE kind = 'pack'")[0]
            .as<std::string>() == "lz4");
}

TEST_CASE(
    "Migration 024 keeps a populated outbox: same ids and messages - new ids above them, a pack's "
    "range its own",
    "[store][forwarding][migration]") {
  iot::testing::PgDatabase pg;
  Migrator m(pg.Dsn());
  REQUIRE(m.MigrateTo(23).has_value());
  std::int64_t rule = 0;
  std::vector<std::int64_t> old_ids;
  {
    pqxx::connection c(pg.Dsn());
    pqxx::work tx(c);
    rule = InsertRuleWithCursor(tx);
    for (int n = 1; n <= 3; ++n) {
      old_ids.push_back(
          tx.exec_params1("INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, "
                          "product_key, device_name, iot_id, payload) VALUES (ARRAY[$1::bigint], "
                          "'property', '/pk/d/t', 7, 'pk', 'd', 'iot7', $2) RETURNING id",
                          rule, json{{"n", n}}.dump())[0]
              .as<std::int64_t>());
    }
    tx.commit();
  }
  REQUIRE(Migrator(pg.Dsn()).Migrate().has_value());
  Db db{DbSettings{.dsn = pg.Dsn()}};
  auto rows = ReadFromStart(db, rule, 3);
  REQUIRE(rows.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(rows[i].id == old_ids[i]);
    CHECK(rows[i].message_id == std::to_string(old_ids[i]));
    CHECK(json::parse(rows[i].payload_json)["n"] == static_cast<int>(i) + 1);
  }
  pqxx::connection c(pg.Dsn());
  pqxx::work tx(c);
  const auto next =
      tx.exec_params1(
            "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, "
            "device_name, iot_id, payload) VALUES (ARRAY[$1::bigint], 'property', '/pk/d/t', 7, "
            "'pk', 'd', 'iot7', '{}') RETURNING id",
            rule)[0]
          .as<std::int64_t>();
  CHECK(next > old_ids.back());
  CHECK(next % 1024 == 0);
  CHECK(tx.exec1("SELECT nextval('forward_outbox_id_seq')")[0].as<std::int64_t>() == next + 1024);
  // Every slot compresses its payloads with lz4.
  CHECK(tx.exec1("SELECT count(*) FROM pg_attribute WHERE attname = 'payload' AND attcompression = 'l' AND "
                 "attrelid::regclass::text LIKE 'forward_outbox%'")[0]
            .as<int>() == 5);
}

#include "iot/common/hash.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kT0;

namespace {

struct Devices {
  std::int64_t a = 0;
  std::int64_t b = 0;
};

Devices MakeDevices(Fixture& f) {
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  return {CreateDevice(f.db, "pk", DeviceCreate{"a", ""}).value().id,
          CreateDevice(f.db, "pk", DeviceCreate{"b", ""}).value().id};
}

TelemetryMessage Msg(std::int64_t device, std::string id, std::string value, TimeMs ts,
                     TimeMs received = kT0) {
  TelemetryMessage m;
  m.device_id = device;
  m.message_id = std::move(id);
  m.payload_hash = iot::Fnv1a64(value);
  m.received_at = received;
  m.properties.push_back(PropertyItem{"T", std::move(value), ts});
  return m;
}

std::size_t HistoryCount(Fixture& f, std::int64_t device) {
  return ListPropertyHistory(f.db, device, "T", TimeQuery{.limit = 1000}).value().items.size();
}

}  // namespace

TEST_CASE("Writer: redelivered messages are stored once and reported duplicate", "[store][writer]") {
  Fixture f;
  auto d = MakeDevices(f);
  TelemetryWriter w(f.db);
  std::vector<TelemetryMessage> batch{Msg(d.a, "1", "10", kT0), Msg(d.a, "1", "10", kT0),
                                      Msg(d.a, "1", "11", kT0 + 1),  // same id, other payload
                                      Msg(d.b, "1", "10", kT0)};
  batch[0].events.push_back(EventItem{"alarm", "alert", R"({"level":3})", kT0});
  batch[0].rejections.push_back(RejectionItem{kT0, "thing.event.property.post", "X", "bad'\\", 6320, "no"});
  auto r = w.Write(batch).value();
  CHECK(r[0].outcome == WriteOutcome::kStored);
  CHECK(r[1].outcome == WriteOutcome::kDuplicate);
  CHECK(r[2].outcome == WriteOutcome::kStored);
  CHECK(r[3].outcome == WriteOutcome::kStored);
  // Redelivered within the window: duplicate. After the window: stored again (the device restarted).
  auto again = w.Write(std::vector{Msg(d.a, "1", "10", kT0, kT0 + 60000)}).value();
  CHECK(again[0].outcome == WriteOutcome::kDuplicate);
  auto later = w.Write(std::vector{Msg(d.a, "1", "10", kT0, kT0 + kDedupeWindowMs + 1)}).value();
  CHECK(later[0].outcome == WriteOutcome::kStored);
  CHECK(HistoryCount(f, d.a) == 3);
  CHECK(HistoryCount(f, d.b) == 1);
  auto events = ListEvents(f.db, d.a, EventFilter{.type = std::string("alert")}, TimeQuery{}).value();
  REQUIRE(events.items.size() == 1);
  CHECK(events.items[0].output_json == R"({"level": 3})");
  CHECK(ListEvents(f.db, d.a, EventFilter{.identifier = std::string("other")}, TimeQuery{})->items.empty());
  auto rej = ListRejections(f.db, d.a, TimeQuery{}).value();
  REQUIRE(rej.items.size() == 1);
  CHECK(rej.items[0].value == "bad'\\");
  CHECK(rej.items[0].code == 6320);
  CHECK(w.Stats().duplicates == 2);
}

TEST_CASE("Writer: latest value keeps the newest device time across out-of-order batches",
          "[store][writer]") {
  Fixture f;
  auto d = MakeDevices(f);
  TelemetryWriter w(f.db);
  // Within one batch: the newer ts wins even when it comes first.
  REQUIRE(w.Write(std::vector{Msg(d.a, "1", "5", kT0 + 5000), Msg(d.a, "2", "3", kT0 + 3000)}).has_value());
  auto latest = GetLatestProperties(f.db, d.a).value();
  REQUIRE(latest.size() == 1);
  CHECK(latest[0].value_json == "5");
  // A later batch with an older sample (history post) does not replace it.
  REQUIRE(w.Write(std::vector{Msg(d.a, "3", "1", kT0 + 1000)}).has_value());
  CHECK(GetLatestProperties(f.db, d.a).value()[0].value_json == "5");
  REQUIRE(w.Write(std::vector{Msg(d.a, "4", "9", kT0 + 9000)}).has_value());
  CHECK(GetLatestProperties(f.db, d.a).value()[0].value_json == "9");
  CHECK(GetLatestProperties(f.db, d.a).value()[0].time == kT0 + 9000);
  CHECK(HistoryCount(f, d.a) == 4);
}

TEST_CASE("Writer: a bad message is isolated, the rest of the batch is stored", "[store][writer]") {
  Fixture f;
  auto d = MakeDevices(f);
  TelemetryWriter w(f.db);
  std::vector<TelemetryMessage> batch;
  for (int i = 0; i < 9; ++i) {
    batch.push_back(Msg(i % 2 == 0 ? d.a : d.b, std::to_string(i), std::to_string(i), kT0 + i));
  }
  batch[4].properties[0].value_json = "{not json";  // COPY of jsonb fails
  batch[7] = Msg(987654, "7", "7", kT0 + 7);        // unknown device: FK of latest
  auto r = w.Write(batch).value();
  for (int i = 0; i < 9; ++i) {
    INFO(i);
    if (i == 4 || i == 7) {
      CHECK(r[i].outcome == WriteOutcome::kFailed);
      CHECK(Is(r[i].error, i == 4 ? Errc::kInvalid : Errc::kConflict));
    } else {
      CHECK(r[i].outcome == WriteOutcome::kStored);
    }
  }
  CHECK(HistoryCount(f, d.a) + HistoryCount(f, d.b) == 7);
  CHECK(w.Stats().failed == 2);
  // The failed message was not remembered as seen: fixed and resent, it is stored.
  batch[4].properties[0].value_json = "4";
  CHECK(w.Write(std::span(&batch[4], 1)).value()[0].outcome == WriteOutcome::kStored);
}

TEST_CASE("Writer: unreachable database reports kUnavailable for the batch", "[store][writer]") {
  Db db(DbSettings{.dsn = "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1"});
  TelemetryWriter w(db);
  auto r = w.Write(std::vector{Msg(1, "1", "1", kT0)});
  REQUIRE(r.has_error());
  CHECK(Is(r.error(), Errc::kUnavailable));
}

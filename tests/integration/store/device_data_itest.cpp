#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/products.hpp"
#include "iot/store/statements.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;
using iot::store::test::kT0;

namespace {

std::int64_t MakeDevice(Fixture& f) {
  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  return CreateDevice(f.db, "pk", DeviceCreate{"d1", ""}).value().id;
}

// One message per sample: T = i at kT0 + i * 1000 ms.
void WriteSamples(Fixture& f, std::int64_t device, int n, TimeMs step = 1000) {
  std::vector<TelemetryMessage> batch;
  for (int i = 0; i < n; ++i) {
    TelemetryMessage m;
    m.device_id = device;
    m.message_id = std::to_string(i);
    m.payload_hash = static_cast<std::uint64_t>(i);
    m.received_at = kT0;
    m.properties.push_back(PropertyItem{"T", std::to_string(i), kT0 + i * step});
    batch.push_back(std::move(m));
  }
  TelemetryWriter w(f.db);
  auto r = w.Write(batch);
  REQUIRE(r.has_value());
}

}  // namespace

TEST_CASE("History: from inclusive, to exclusive, both orders, keyset paging", "[store][data]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  WriteSamples(f, dev, 10);
  TimeQuery q;
  q.from = kT0 + 2000;
  q.to = kT0 + 7000;
  q.order = Order::kAsc;
  q.limit = 2;
  std::vector<TimeMs> times;
  while (true) {
    auto page = ListPropertyHistory(f.db, dev, "T", q);
    REQUIRE(page.has_value());
    for (auto& s : page->items) {
      times.push_back(s.time - kT0);
    }
    if (!page->next_cursor) {
      break;
    }
    q.cursor = *page->next_cursor;
    WriteSamples(f, dev, 0);
  }
  CHECK(times == std::vector<TimeMs>{2000, 3000, 4000, 5000, 6000});
  q.order = Order::kDesc;
  q.cursor.clear();
  q.limit = 1000;
  auto desc = ListPropertyHistory(f.db, dev, "T", q).value();
  REQUIRE(desc.items.size() == 5);
  CHECK(desc.items.front().time == kT0 + 6000);
  CHECK(desc.items.front().value_json == "6");
  CHECK(!desc.next_cursor);
  q.limit = 1001;
  CHECK(Is(ListPropertyHistory(f.db, dev, "T", q).error(), Errc::kInvalid));
  q.limit = 10;
  q.cursor = "x:y";
  CHECK(Is(ListPropertyHistory(f.db, dev, "T", q).error(), Errc::kInvalid));
}

TEST_CASE("History: ties on device time page correctly by id", "[store][data]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  WriteSamples(f, dev, 7, 0);  // all at kT0
  TimeQuery q;
  q.limit = 3;
  std::set<std::string> values;
  int pages = 0;
  while (true) {
    auto page = ListPropertyHistory(f.db, dev, "T", q).value();
    ++pages;
    for (auto& s : page.items) {
      CHECK(values.insert(s.value_json).second);
    }
    if (!page.next_cursor) {
      break;
    }
    q.cursor = *page.next_cursor;
  }
  CHECK(values.size() == 7);
  CHECK(pages == 3);
}

TEST_CASE("Latest properties by name: one statement for the device and its values", "[store][data]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  WriteSamples(f, dev, 3);
  TelemetryMessage m;
  m.device_id = dev;
  m.received_at = kT0;
  m.properties.push_back(PropertyItem{"A", R"({"x":[1,"y"]})", kT0 + 500});
  REQUIRE(TelemetryWriter(f.db).Write(std::span(&m, 1)).has_value());

  // The path it replaces: the device lookup, then its values (2 statements, 2 transaction blocks).
  auto before = StatementsOnThisThread();
  REQUIRE(GetDevice(f.db, "pk", "d1").has_value());
  auto by_id = GetLatestProperties(f.db, dev);
  CHECK(StatementsOnThisThread() - before == 2);

  before = StatementsOnThisThread();
  auto by_name = GetLatestPropertiesOf(f.db, "pk", "d1");
  CHECK(StatementsOnThisThread() - before == 1);
  REQUIRE(by_name.has_value());
  REQUIRE(by_id.has_value());
  REQUIRE(by_name->size() == 2);
  REQUIRE(by_id->size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK((*by_name)[i].identifier == (*by_id)[i].identifier);
    CHECK((*by_name)[i].value_json == (*by_id)[i].value_json);
    CHECK((*by_name)[i].time == (*by_id)[i].time);
    CHECK((*by_name)[i].received_at == (*by_id)[i].received_at);
  }
  CHECK((*by_name)[0].identifier == "A");
  CHECK((*by_name)[0].value_json == R"({"x": [1, "y"]})");
  CHECK((*by_name)[1].value_json == "2");
  CHECK((*by_name)[1].time == kT0 + 2000);

  REQUIRE(CreateDevice(f.db, "pk", DeviceCreate{"quiet", ""}).has_value());
  auto quiet = GetLatestPropertiesOf(f.db, "pk", "quiet");
  REQUIRE(quiet.has_value());
  CHECK(quiet->empty());
  CHECK(Is(GetLatestPropertiesOf(f.db, "pk", "nope").error(), Errc::kNotFound));
  CHECK(Is(GetLatestPropertiesOf(f.db, "nope", "d1").error(), Errc::kNotFound));
}

TEST_CASE("Aggregate: UTC-aligned buckets with avg/min/max/count/first/last", "[store][data]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  WriteSamples(f, dev, 10, 30000);  // 0..9 every 30 s: buckets of 1 min hold 2 samples
  auto r = AggregateProperty(f.db, dev, "T", AggregateQuery{kT0, kT0 + 300000, 60000});
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 5);
  const auto& b = (*r)[1];
  CHECK(b.time == kT0 + 60000);
  CHECK(b.count == 2);
  CHECK(b.min == 2);
  CHECK(b.max == 3);
  CHECK(b.avg == Approx(2.5));
  CHECK(b.first == 2);
  CHECK(b.last == 3);
  CHECK(Is(AggregateProperty(f.db, dev, "T", AggregateQuery{kT0, kT0 + 1, 10}).error(), Errc::kInvalid));
}

TEST_CASE("Service calls: create, update guarded by status, list, expire", "[store][calls]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  auto call = CreateServiceCall(f.db, ServiceCallCreate{.device_id = dev,
                                                        .identifier = "Reboot",
                                                        .params_json = R"({"delay":1})",
                                                        .requested_by = "ops",
                                                        .requested_at = kT0,
                                                        .expires_at = kT0 + 1000});
  REQUIRE(call.has_value());
  CHECK(call->call_id.size() == 32);
  CHECK(call->status == ServiceCallStatus::kQueued);
  CHECK(Is(CreateServiceCall(f.db, ServiceCallCreate{.device_id = 99999, .identifier = "x"}).error(),
           Errc::kNotFound));
  CHECK(ListQueuedServiceCalls(f.db, dev)->size() == 1);

  auto sent = UpdateServiceCall(f.db, call->call_id,
                                ServiceCallUpdate{.status = ServiceCallStatus::kSent,
                                                  .from = {ServiceCallStatus::kQueued},
                                                  .sent_at = kT0 + 10,
                                                  .alink_id = std::string("42")});
  REQUIRE(sent.has_value());
  CHECK(sent->sent_at == kT0 + 10);
  auto found = FindServiceCallByAlinkId(f.db, dev, "42");
  REQUIRE(found.has_value());
  CHECK(found->call_id == call->call_id);
  auto done = UpdateServiceCall(f.db, call->call_id,
                                ServiceCallUpdate{.status = ServiceCallStatus::kSucceeded,
                                                  .from = {ServiceCallStatus::kSent},
                                                  .code = 200,
                                                  .output_json = std::string(R"({"ok":true})"),
                                                  .replied_at = kT0 + 20});
  REQUIRE(done.has_value());
  CHECK(done->code == 200);
  // A late timeout cannot overwrite the reply.
  CHECK(Is(UpdateServiceCall(
               f.db, call->call_id,
               ServiceCallUpdate{.status = ServiceCallStatus::kTimeout, .from = {ServiceCallStatus::kSent}})
               .error(),
           Errc::kConflict));
  CHECK(Is(UpdateServiceCall(f.db, "nope", ServiceCallUpdate{}).error(), Errc::kNotFound));

  REQUIRE(CreateServiceCall(
              f.db,
              ServiceCallCreate{
                  .device_id = dev, .identifier = "Other", .requested_at = kT0 + 5, .expires_at = kT0 + 100})
              .has_value());
  auto expired = ExpireServiceCalls(f.db, kT0 + 100);
  REQUIRE(expired->size() == 1);
  CHECK(expired->front().status == ServiceCallStatus::kExpired);

  auto list = ListServiceCalls(f.db, dev, ServiceCallFilter{}, TimeQuery{.limit = 1});
  REQUIRE(list->items.size() == 1);
  CHECK(list->items[0].identifier == "Other");  // newest first
  auto next =
      ListServiceCalls(f.db, dev, ServiceCallFilter{}, TimeQuery{.limit = 1, .cursor = *list->next_cursor});
  CHECK(next->items[0].identifier == "Reboot");
  auto filtered =
      ListServiceCalls(f.db, dev, ServiceCallFilter{.status = ServiceCallStatus::kSucceeded}, TimeQuery{});
  CHECK(filtered->items.size() == 1);
  CHECK(GetServiceCall(f.db, dev, call->call_id)->status == ServiceCallStatus::kSucceeded);
}

TEST_CASE("Desired properties: versions, mismatch all-or-nothing, device delete", "[store][desired]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  auto v = SetDesiredProperties(
      f.db, dev, {{"power", std::string(R"("on")"), 0}, {"t", std::string("21"), std::nullopt}});
  REQUIRE(v.has_value());
  CHECK((*v)["power"] == 1);
  CHECK(Is(SetDesiredProperties(
               f.db, dev, {{"t", std::string("22"), std::nullopt}, {"power", std::string(R"("off")"), 5}})
               .error(),
           Errc::kVersionMismatch));
  auto got = GetDesiredProperties(f.db, dev).value();
  REQUIRE(got.size() == 2);
  CHECK(got[1].identifier == "t");
  CHECK(got[1].value_json == "21");
  auto cleared = SetDesiredProperties(f.db, dev, {{"power", std::nullopt, 1}});
  CHECK((*cleared)["power"] == 2);
  CHECK(!GetDesiredProperties(f.db, dev).value()[0].value_json);
  REQUIRE(DeleteDesiredFromDevice(f.db, dev, {{"t", std::nullopt, 7}}).has_value());  // ignored
  CHECK(GetDesiredProperties(f.db, dev).value()[1].value_json == "21");
  REQUIRE(DeleteDesiredFromDevice(f.db, dev, {{"t", std::nullopt, 1}}).has_value());
  CHECK(!GetDesiredProperties(f.db, dev).value()[1].value_json);
  CHECK(Is(SetDesiredProperties(f.db, 99999, {}).error(), Errc::kNotFound));
}

TEST_CASE("Service calls: RRPC lookup, queue count, deliverable devices, expiry and timeout sweep",
          "[store][data]") {
  Fixture f;
  const auto dev = MakeDevice(f);
  auto sync = CreateServiceCall(f.db, ServiceCallCreate{.device_id = dev,
                                                        .identifier = "SelfTest",
                                                        .call_type = CallType::kSync,
                                                        .status = ServiceCallStatus::kSent,
                                                        .requested_at = kT0,
                                                        .sent_at = kT0,
                                                        .expires_at = kT0 + 500,
                                                        .alink_id = "7",
                                                        .rrpc_id = "123456789"});
  REQUIRE(sync.has_value());
  CHECK(FindServiceCallByRrpcId(f.db, "123456789")->call_id == sync->call_id);
  CHECK(Is(FindServiceCallByRrpcId(f.db, "999").error(), Errc::kNotFound));

  for (int i = 0; i < 3; ++i) {
    REQUIRE(CreateServiceCall(f.db, ServiceCallCreate{.device_id = dev,
                                                      .identifier = "set",
                                                      .requested_at = kT0 + i,
                                                      .expires_at = kT0 + (i == 0 ? 400 : 100000)})
                .has_value());
  }
  CHECK(CountQueuedServiceCalls(f.db, dev).value() == 3);
  CHECK(ListQueuedServiceCallsOfProduct(f.db, "pk")->size() == 3);

  // Deliverable only once online (since before the grace boundary) and enabled.
  CHECK(ListDeliverableDevices(f.db, kT0 + 1000, 10)->empty());
  REQUIRE(ApplyLifecycle(f.db, LifecycleEvent{.device_id = dev, .online = true, .time = kT0, .sequence = 1})
              .has_value());
  CHECK(ListDeliverableDevices(f.db, kT0 - 1, 10)->empty());
  auto deliverable = ListDeliverableDevices(f.db, kT0 + 1000, 10);
  REQUIRE(deliverable->size() == 1);
  CHECK(deliverable->front().device_name == "d1");

  // The sweep: queued past expiry -> expired, sent past expiry -> timeout; others untouched.
  auto ended = ExpireServiceCalls(f.db, kT0 + 600);
  REQUIRE(ended->size() == 2);
  for (const auto& call : *ended) {
    CHECK(call.status ==
          (call.call_id == sync->call_id ? ServiceCallStatus::kTimeout : ServiceCallStatus::kExpired));
  }
  CHECK(CountQueuedServiceCalls(f.db, dev).value() == 2);
  // A late answer may still complete a timed-out call when the updater allows it.
  auto late =
      UpdateServiceCall(f.db, sync->call_id,
                        ServiceCallUpdate{.status = ServiceCallStatus::kSucceeded,
                                          .from = {ServiceCallStatus::kSent, ServiceCallStatus::kTimeout},
                                          .code = 200});
  CHECK(late.has_value());
}

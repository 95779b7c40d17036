#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/store/stream.hpp"
#include "iot/store/telemetry_writer.hpp"

using iot::store::ParseStreamPayload;
using iot::store::StreamKind;
using iot::store::StreamPayloadBuilder;

TEST_CASE("Stream payload: records round-trip in order", "[stream][payload]") {
  StreamPayloadBuilder b;
  b.AddProperties(7, {{"Temp", "25.5", 1000}, {"Mode", "\"a\\nb\"", 1200}});
  b.AddEvent(7, {"alarm", "alert", R"({"level":3})", 1300});
  b.AddRejection(
      8, {1400, "thing.event.property.post", "Temp", "\"hot\"\n", 6306, "Temp: \"hot\" is not an int"});
  b.AddProperties(9, {});  // nothing
  auto payloads = b.Take();
  REQUIRE(payloads.size() == 1);
  std::size_t bad = 0;
  auto records = ParseStreamPayload(payloads[0], &bad);
  CHECK(bad == 0);
  REQUIRE(records.size() == 4);  // the post's two times give two property records
  CHECK(records[0].kind == StreamKind::kProperty);
  CHECK(records[0].device_id == 7);
  CHECK(records[0].time == 1000);
  CHECK(nlohmann::json::parse(records[0].data) == nlohmann::json{{"Temp", 25.5}});
  CHECK(records[1].time == 1200);
  CHECK(nlohmann::json::parse(records[1].data) == nlohmann::json{{"Mode", "a\nb"}});
  records.erase(records.begin());
  CHECK(records[1].kind == StreamKind::kEvent);
  auto event = nlohmann::json::parse(records[1].data);
  CHECK(event["identifier"] == "alarm");
  CHECK(event["output"]["level"] == 3);
  CHECK(records[2].kind == StreamKind::kRejection);
  CHECK(records[2].device_id == 8);
  auto rejection = nlohmann::json::parse(records[2].data);
  CHECK(rejection["value"] == "\"hot\"\n");
  CHECK(rejection["code"] == 6306);
}

TEST_CASE("Stream payload: items of one time share a record of plain values", "[stream][payload]") {
  StreamPayloadBuilder b;
  b.AddProperties(1, {{"A", "1", 5}, {"B", "true", 6}, {"C", "{\"x\":[1,2]}", 5}});
  const std::string payload = b.Take().at(0);
  auto records = ParseStreamPayload(payload);
  REQUIRE(records.size() == 2);
  CHECK(records[0].time == 5);
  CHECK(nlohmann::json::parse(records[0].data) == nlohmann::json::parse(R"({"A":1,"C":{"x":[1,2]}})"));
  CHECK(records[1].time == 6);
  CHECK(nlohmann::json::parse(records[1].data) == nlohmann::json{{"B", true}});
}

TEST_CASE("Stream payload: split below the limit, oversized items truncated", "[stream][payload]") {
  StreamPayloadBuilder b(1000);
  for (int i = 0; i < 50; ++i) {
    b.AddEvent(i, {"e", "info", R"({"n":1234567890})", i});
  }
  const std::string big = "\"" + std::string(5000, 'x') + "\"";
  b.AddProperties(100, {{"Big", big, 1}, {"Small", "1", 1}});
  b.AddEvent(101, {"huge", "info", "{\"s\":" + big + "}", 3});
  auto payloads = b.Take();
  CHECK(payloads.size() > 1);
  std::vector<iot::store::StreamRecord> all;
  for (const auto& p : payloads) {
    CHECK(p.size() <= 1000);
    for (auto r : ParseStreamPayload(p)) {
      CHECK_NOFAIL(nlohmann::json::parse(r.data).is_object());
      all.push_back(r);
    }
  }
  REQUIRE(all.size() == 53);  // 50 events, the big post split in 2, the huge event
  for (int i = 0; i < 50; ++i) {
    CHECK(all[static_cast<std::size_t>(i)].device_id == i);
  }
  auto big_prop = nlohmann::json::parse(all[50].data);
  CHECK(big_prop["Big"].is_null());
  CHECK(big_prop["$truncated"] == true);
  CHECK(nlohmann::json::parse(all[51].data)["Small"] == 1);
  auto huge = nlohmann::json::parse(all[52].data);
  CHECK(huge["truncated"] == true);
  CHECK(huge["output"].is_null());
}

TEST_CASE("Stream payload: malformed records are skipped and counted", "[stream][payload]") {
  std::size_t bad = 0;
  auto records = ParseStreamPayload("p 1 2 {}\nx 1 2 {}\np a 2 {}\np 1 2\np 1 2 {\"a\":1}\n\ns 3 4 {}", &bad);
  CHECK(records.size() == 3);
  CHECK(bad == 4);
  CHECK(records[2].kind == StreamKind::kServiceCall);
  CHECK(records[2].device_id == 3);
}

TEST_CASE("Stream payload: alarm records of the alarms trigger are parsed", "[stream][payload]") {
  auto records = ParseStreamPayload("a 9 1700000000000 {\"id\":1,\"state\":\"active\"}");
  REQUIRE(records.size() == 1);
  CHECK(records[0].kind == StreamKind::kAlarm);
  CHECK(records[0].device_id == 9);
  CHECK(records[0].time == 1700000000000);
  CHECK(records[0].data == "{\"id\":1,\"state\":\"active\"}");
}

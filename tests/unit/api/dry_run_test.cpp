// DryRunTally: recorded items re-validated against another model (no database).
#include "jobs/dry_run.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "iot/tsl/parser.hpp"

namespace {

using nlohmann::json;

json Reference() {
  std::ifstream in(IOT_SOURCE_DIR "/tests/fixtures/tsl/valid/reference_example.json");
  std::ostringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

iot::tsl::ThingModel Build(const json& doc) {
  auto r = iot::tsl::ParseThingModel(doc.dump());
  REQUIRE(r.ok());
  return std::move(*r.model);
}

json& Find(json& list, const std::string& id) {
  for (auto& item : list) {
    if (item["identifier"] == id) {
      return item;
    }
  }
  throw std::runtime_error(id);
}

}  // namespace

TEST_CASE("Dry run tally: flips per identifier and device, with examples", "[api][dry_run]") {
  json doc = Reference();
  Find(doc["properties"], "RunCount")["dataType"]["specs"]["max"] = "100";
  Find(Find(doc["events"], "LowBattery")["outputData"], "Level")["dataType"]["specs"]["max"] = "10";
  auto model = Build(doc);
  iot::api::DryRunTally tally(&model, iot::tsl::Mode::kStrict, {.examples = 1, .devices = 1});
  tally.AcceptedProperty("d1", "RunCount", "50", 1000);   // still passes
  tally.AcceptedProperty("d1", "RunCount", "500", 1001);  // refused now
  tally.AcceptedProperty("d2", "RunCount", "700", 1002);  // refused now (second example not kept)
  tally.AcceptedProperty("d2", "Gone", "1", 1003);        // unknown identifier: 6304
  tally.AcceptedEvent("d2", "LowBattery", R"({"Level":50})", 1004);
  tally.AcceptedProperty("d2", "RunCount", "not json", 1005);
  // Refusals: a value now in range passes; a request-level one, a time one and an unknown method
  // cannot be replayed.
  tally.Rejection("d3", "thing.event.property.post", "RunCount", "-1", 6306, "RunCount: -1 is below min 0",
                  998);
  tally.Rejection("d3", "thing.event.property.post", "RunCount", "50", 6306, "RunCount: 50 is above max 40",
                  999);
  tally.Rejection("d3", "thing.event.property.post", "", "{...}", 6106, "too many", 999);
  tally.Rejection("d3", "thing.event.property.post", "RunCount", "5", 6326, "bad time", 999);
  tally.Rejection("d3", "thing.event.Fault.post", "Fault", R"({"Code":77})", 6309, "not an enum value", 999);
  tally.Rejection("d3", "thing.service.x", "RunCount", "5", 6306, "?", 999);

  json r = tally.ToJson(false);
  INFO(r.dump(2));
  CHECK(r["acceptedToRefused"] == 4);
  CHECK(r["refusedToAccepted"] == 1);
  const json& ids = r["identifiers"];
  REQUIRE(ids.size() == 3);
  CHECK(ids[0]["identifier"] == "RunCount");
  CHECK(ids[0]["acceptedToRefused"] == 2);
  CHECK(ids[0]["refusedToAccepted"] == 1);
  REQUIRE(ids[0]["examples"].size() == 2);  // one per transition
  CHECK(ids[0]["examples"][0]["value"] == 500);
  CHECK(ids[0]["examples"][0]["code"] == 6306);
  CHECK(ids[0]["examples"][0]["transition"] == "acceptedToRefused");
  CHECK(ids[0]["examples"][1]["value"] == 50);
  CHECK(ids[0]["examples"][1]["transition"] == "refusedToAccepted");
  CHECK(ids[0]["examples"][1]["message"] == "RunCount: 50 is above max 40");
  CHECK(ids[1]["identifier"] == "Gone");
  CHECK(ids[1]["examples"][0]["code"] == 6304);
  CHECK(ids[2]["identifier"] == "LowBattery");
  CHECK(r["examined"]["accepted"] == 5);
  CHECK(r["examined"]["refused"] == 3);
  CHECK(r["examined"]["skipped"] == 4);
  // Devices: most affected first, cut at the limit.
  REQUIRE(r["devices"].size() == 1);
  CHECK(r["devices"][0]["deviceName"] == "d2");
  CHECK(r["devicesTruncated"] == true);
  CHECK(r["mode"] == "strict");
}

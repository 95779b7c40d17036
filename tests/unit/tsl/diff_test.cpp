// Thing-model diff: every data type of the TSL reference, events, services and their parameters,
// accessMode and required, each change classified.
#include "iot/tsl/diff.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace iot::tsl {
namespace {

using nlohmann::json;

// The reference example without the built-ins (post, set, get), which the parser derives from the
// properties: mutating a property then needs no second edit.
json Base() {
  json doc = json::parse(test::Fixture("valid/reference_example.json"));
  auto strip = [](json& list) {
    json kept = json::array();
    for (auto& item : list) {
      const std::string id = item.value("identifier", "");
      if (id != "post" && id != "set" && id != "get") {
        kept.push_back(item);
      }
    }
    list = kept;
  };
  strip(doc["events"]);
  strip(doc["services"]);
  return doc;
}

ThingModel Build(const json& doc) {
  auto result = ParseThingModel(doc.dump());
  if (!result.ok()) {
    FAIL("does not parse: " + result.problems.front().pointer + " " + result.problems.front().message);
  }
  return std::move(*result.model);
}

std::vector<Change> Diff(const json& from, const json& to) {
  ThingModel a = Build(from);
  ThingModel b = Build(to);
  return DiffModels(&a, b);
}

json& Find(json& list, const std::string& id) {
  for (auto& item : list) {
    if (item.value("identifier", "") == id) {
      return item;
    }
  }
  throw std::runtime_error("no " + id);
}
json& Prop(json& doc, const std::string& id) { return Find(doc["properties"], id); }
json& Specs(json& doc, const std::string& id) { return Prop(doc, id)["dataType"]["specs"]; }

// The one change a mutation gives.
Change One(const json& from, const json& to) {
  auto changes = Diff(from, to);
  json shown = json::array();
  for (const auto& c : changes) {
    shown.push_back(ChangeToJson(c));
  }
  INFO(shown.dump());
  REQUIRE(changes.size() == 1);
  return changes.front();
}

std::string Class(const Change& c) { return std::string(ChangeClassName(c.Class())); }

}  // namespace

TEST_CASE("Diff: identical models have no changes", "[diff]") {
  CHECK(Diff(Base(), Base()).empty());
  // The built-ins do not count either.
  json with = json::parse(test::Fixture("valid/reference_example.json"));
  CHECK(Diff(with, Base()).empty());
}

TEST_CASE("Diff: nothing published means everything is added", "[diff]") {
  ThingModel b = Build(Base());
  auto changes = DiffModels(nullptr, b);
  // 10 properties, 2 events, 2 services.
  REQUIRE(changes.size() == 14);
  for (const auto& c : changes) {
    CHECK(c.change == ChangeType::kAdded);
  }
  // PowerOn is required: a device of no version cannot have sent it, but it must now.
  CHECK(changes[0].identifier == "PowerOn");
  CHECK(Class(changes[0]) == "breaks-devices");
  CHECK(Class(changes[1]) == "compatible");
}

TEST_CASE("Diff: int range narrowed breaks devices, widened is compatible", "[diff]") {
  json a = Base(), b = Base();
  Specs(b, "RunCount")["max"] = "500";
  Change c = One(a, b);
  CHECK(c.kind == ChangeKind::kProperty);
  CHECK(c.identifier == "RunCount");
  CHECK(c.module.empty());
  CHECK(c.change == ChangeType::kChanged);
  CHECK(c.detail == "max narrowed from 1000000 to 500");
  CHECK(Class(c) == "breaks-devices");
  CHECK_FALSE(c.breaks_applications);

  b = Base();
  Specs(b, "RunCount")["min"] = "-10";
  c = One(a, b);
  CHECK(c.detail == "min widened from 0 to -10");
  CHECK(Class(c) == "compatible");

  b = Base();
  Specs(b, "RunCount")["min"] = "1";
  CHECK(One(a, b).detail == "min narrowed from 0 to 1");
}

TEST_CASE("Diff: float and double ranges, step and unit", "[diff]") {
  json a = Base(), b = Base();
  Specs(b, "TargetTemp")["max"] = "30";
  CHECK(Class(One(a, b)) == "breaks-devices");
  b = Base();
  Specs(b, "TargetTemp")["max"] = "40";
  CHECK(Class(One(a, b)) == "compatible");
  b = Base();
  Specs(b, "Humidity")["step"] = "0.1";
  Change c = One(a, b);
  CHECK(c.detail == "step changed from 0.01 to 0.1");
  CHECK(Class(c) == "breaks-devices");
  b = Base();
  Specs(b, "Humidity")["unit"] = "%";
  c = One(a, b);
  CHECK(Class(c) == "breaks-applications");
  CHECK_FALSE(c.breaks_devices);
  b = Base();
  Specs(b, "Humidity").erase("max");
  CHECK(One(a, b).detail == "max 100 removed");
  CHECK(Class(One(a, b)) == "compatible");
}

TEST_CASE("Diff: type changes", "[diff]") {
  json a = Base(), b = Base();
  // int -> double: every old value still passes; readers see another type.
  Prop(b, "RunCount")["dataType"]["type"] = "double";
  Change c = One(a, b);
  CHECK(c.detail == "type changed from int to double");
  CHECK_FALSE(c.breaks_devices);
  CHECK(c.breaks_applications);
  CHECK(Class(c) == "breaks-applications");
  // text -> int: both.
  b = Base();
  Prop(b, "Label")["dataType"] = {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "9"}}}};
  c = One(a, b);
  CHECK(c.breaks_devices);
  CHECK(c.breaks_applications);
  CHECK(Class(c) == "breaks-devices");
  CHECK(ChangeToJson(c)["classes"] == json{"breaks-devices", "breaks-applications"});
  // double -> float narrows.
  b = Base();
  Prop(b, "Humidity")["dataType"]["type"] = "float";
  CHECK(One(a, b).breaks_devices);
}

TEST_CASE("Diff: enum values and bool labels", "[diff]") {
  json a = Base(), b = Base();
  Specs(b, "FanLevel").erase("2");
  Change c = One(a, b);
  CHECK(c.detail == "value 2 (high) removed");
  CHECK(Class(c) == "breaks-devices");
  b = Base();
  Specs(b, "FanLevel")["3"] = "turbo";
  c = One(a, b);
  CHECK(c.detail == "value 3 (turbo) added");
  CHECK(Class(c) == "compatible");
  b = Base();
  Specs(b, "FanLevel")["1"] = "slow";
  CHECK(Class(One(a, b)) == "compatible");
  b = Base();
  Specs(b, "PowerOn")["1"] = "running";
  c = One(a, b);
  CHECK(c.detail == "label of 1 changed from \"on\" to \"running\"");
  CHECK(Class(c) == "compatible");
}

TEST_CASE("Diff: text length and date", "[diff]") {
  json a = Base(), b = Base();
  Specs(b, "Label")["length"] = "16";
  Change c = One(a, b);
  CHECK(c.detail == "length narrowed from 32 to 16");
  CHECK(Class(c) == "breaks-devices");
  b = Base();
  Specs(b, "Label")["length"] = "64";
  CHECK(Class(One(a, b)) == "compatible");
  // A date has no specs to change; a retype to text breaks.
  b = Base();
  Prop(b, "LastService")["dataType"] = {{"type", "text"}, {"specs", {{"length", "20"}}}};
  CHECK(One(a, b).breaks_devices);
}

TEST_CASE("Diff: struct members", "[diff]") {
  json a = Base(), b = Base();
  Find(Specs(b, "Position"), "Lat")["dataType"]["specs"]["max"] = "80";
  Change c = One(a, b);
  CHECK(c.identifier == "Position");
  CHECK(c.path == "Lat");
  CHECK(Class(c) == "breaks-devices");

  b = Base();
  json& members = Specs(b, "Position");
  members.erase(members.begin());  // Lat removed
  c = One(a, b);
  CHECK(c.path == "Lat");
  CHECK(c.detail == "member removed");
  CHECK(c.breaks_devices);
  CHECK(c.breaks_applications);

  b = Base();
  Specs(b, "Position")
      .push_back({{"identifier", "Alt"},
                  {"name", "Altitude"},
                  {"dataType", {{"type", "float"}, {"specs", {{"min", "0"}, {"max", "9000"}}}}}});
  c = One(a, b);
  CHECK(c.path == "Alt");
  CHECK(Class(c) == "breaks-devices");  // strict mode requires every member
}

TEST_CASE("Diff: arrays: size and element type", "[diff]") {
  json a = Base(), b = Base();
  Specs(b, "Samples")["size"] = "4";
  Change c = One(a, b);
  CHECK(c.detail == "size narrowed from 8 to 4");
  CHECK(Class(c) == "breaks-devices");
  b = Base();
  Specs(b, "Samples")["size"] = "16";
  CHECK(Class(One(a, b)) == "compatible");
  b = Base();
  Specs(b, "Samples")["item"]["type"] = "int";
  c = One(a, b);
  CHECK(c.path == "[]");
  CHECK(c.detail == "type changed from float to int");
  CHECK(c.breaks_devices);
  // Arrays of structs: a member of the element.
  b = Base();
  Find(Specs(b, "Zones")["item"]["specs"], "ZoneId")["dataType"]["specs"]["max"] = "2";
  c = One(a, b);
  CHECK(c.identifier == "Zones");
  CHECK(c.path == "[].ZoneId");
  CHECK(c.detail == "max narrowed from 4 to 2");
}

TEST_CASE("Diff: accessMode and required", "[diff]") {
  json a = Base(), b = Base();
  Prop(b, "Label")["accessMode"] = "r";
  Change c = One(a, b);
  CHECK(c.detail == "accessMode tightened from rw to r");
  CHECK(Class(c) == "breaks-devices");
  b = Base();
  Prop(b, "Humidity")["accessMode"] = "rw";
  CHECK(Class(One(a, b)) == "compatible");
  b = Base();
  Prop(b, "Label")["required"] = true;
  c = One(a, b);
  CHECK(c.detail == "required changed from false to true");
  CHECK(Class(c) == "breaks-devices");
  b = Base();
  Prop(b, "PowerOn")["required"] = false;
  CHECK(Class(One(a, b)) == "compatible");
  b = Base();
  Prop(b, "PowerOn")["name"] = "Power";
  c = One(a, b);
  CHECK(Class(c) == "compatible");
  CHECK(c.detail == "name changed from \"Power switch\" to \"Power\"");
}

TEST_CASE("Diff: properties added and removed", "[diff]") {
  json a = Base(), b = Base();
  b["properties"].push_back({{"identifier", "Brightness"},
                             {"name", "Brightness"},
                             {"accessMode", "rw"},
                             {"required", false},
                             {"dataType", {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "100"}}}}}});
  Change c = One(a, b);
  CHECK(c.change == ChangeType::kAdded);
  CHECK(c.identifier == "Brightness");
  CHECK(Class(c) == "compatible");
  c = One(b, a);
  CHECK(c.change == ChangeType::kRemoved);
  CHECK(c.breaks_devices);
  CHECK(c.breaks_applications);
}

TEST_CASE("Diff: events and their outputs", "[diff]") {
  json a = Base(), b = Base();
  Find(b["events"], "LowBattery")["type"] = "error";
  Change c = One(a, b);
  CHECK(c.kind == ChangeKind::kEvent);
  CHECK(c.detail == "type changed from alert to error");
  CHECK(Class(c) == "compatible");

  b = Base();
  json& level = Find(Find(b["events"], "LowBattery")["outputData"], "Level");
  level["dataType"]["specs"]["max"] = "50";
  c = One(a, b);
  CHECK(c.kind == ChangeKind::kParameter);
  CHECK(c.identifier == "Level");
  CHECK(c.parent == "LowBattery");
  CHECK(c.direction == "output");
  CHECK(Class(c) == "breaks-devices");
  json j = ChangeToJson(c);
  CHECK(j["kind"] == "parameter");
  CHECK(j["parent"] == "LowBattery");

  // An output added: missing outputs are tolerated, so old devices pass.
  b = Base();
  Find(b["events"], "Fault")["outputData"].push_back(
      {{"identifier", "Extra"},
       {"name", "Extra"},
       {"dataType", {{"type", "date"}, {"specs", json::object()}}}});
  CHECK(Class(One(a, b)) == "compatible");
  // An output removed: devices still sending it are refused, readers lose it.
  c = One(b, a);
  CHECK(c.change == ChangeType::kRemoved);
  CHECK(c.breaks_devices);
  CHECK(c.breaks_applications);

  // An event removed.
  b = Base();
  b["events"].erase(b["events"].begin());
  c = One(a, b);
  CHECK(c.kind == ChangeKind::kEvent);
  CHECK(c.change == ChangeType::kRemoved);
  CHECK(Class(c) == "breaks-devices");
  CHECK(c.breaks_applications);
}

TEST_CASE("Diff: services, inputs and outputs", "[diff]") {
  json a = Base(), b = Base();
  // A narrowed input refuses callers, not devices.
  Find(Find(b["services"], "Reboot")["inputData"], "DelaySec")["dataType"]["specs"]["max"] = "60";
  Change c = One(a, b);
  CHECK(c.kind == ChangeKind::kParameter);
  CHECK(c.direction == "input");
  CHECK(Class(c) == "breaks-applications");
  CHECK_FALSE(c.breaks_devices);
  // A narrowed output refuses the device's answers.
  b = Base();
  Find(Find(b["services"], "SelfTest")["outputData"], "Report")["dataType"]["specs"]["length"] = "10";
  c = One(a, b);
  CHECK(c.direction == "output");
  CHECK(Class(c) == "breaks-devices");
  // An input added: strict mode requires every input.
  b = Base();
  Find(b["services"], "Reboot")["inputData"].push_back(
      {{"identifier", "Force"},
       {"name", "Force"},
       {"dataType", {{"type", "bool"}, {"specs", {{"0", "no"}, {"1", "yes"}}}}}});
  c = One(a, b);
  CHECK(c.change == ChangeType::kAdded);
  CHECK(Class(c) == "breaks-applications");
  // callType changed.
  b = Base();
  Find(b["services"], "SelfTest")["callType"] = "async";
  c = One(a, b);
  CHECK(c.kind == ChangeKind::kService);
  CHECK(c.detail == "callType changed from sync to async");
  CHECK(c.breaks_devices);
  // A service removed breaks its callers.
  b = Base();
  b["services"].erase(b["services"].begin());
  c = One(a, b);
  CHECK(c.change == ChangeType::kRemoved);
  CHECK(Class(c) == "breaks-applications");
  // A required service added: devices must implement it.
  c = One(b, a);
  CHECK(c.change == ChangeType::kAdded);
  CHECK(Class(c) == "compatible");
  Find(a["services"], "Reboot")["required"] = true;
  CHECK(Class(One(b, a)) == "breaks-devices");
}

TEST_CASE("Diff: custom modules are compared per module", "[diff]") {
  json def = Base();
  json custom = {{"profile", {{"productKey", "a1ExAmPlEpk"}}},
                 {"functionBlockId", "Lamp2"},
                 {"functionBlockName", "Second lamp"},
                 {"properties",
                  {{{"identifier", "Level"},
                    {"name", "Level"},
                    {"accessMode", "rw"},
                    {"required", false},
                    {"dataType", {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "10"}}}}}}}},
                 {"events", json::array()},
                 {"services", json::array()}};
  auto build = [&](const json& c) {
    auto r = ParseThingModel(def.dump(), {c.dump()});
    REQUIRE(r.ok());
    return std::move(*r.model);
  };
  json narrowed = custom;
  narrowed["properties"][0]["dataType"]["specs"]["max"] = "5";
  ThingModel a = build(custom);
  ThingModel b = build(narrowed);
  auto changes = DiffModels(&a, b);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].module == "Lamp2");
  CHECK(changes[0].identifier == "Level");
  CHECK(ChangeToJson(changes[0])["module"] == "Lamp2");

  // A module dropped: its contents are removed.
  ThingModel only_default = Build(def);
  changes = DiffModels(&a, only_default);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].change == ChangeType::kRemoved);
  CHECK(changes[0].module == "Lamp2");
}

TEST_CASE("Diff: summary counts each class", "[diff]") {
  json a = Base(), b = Base();
  Specs(b, "RunCount")["max"] = "10";                  // devices
  Specs(b, "Humidity")["unit"] = "%";                  // applications
  Prop(b, "PowerOn")["name"] = "Power";                // compatible
  b["properties"].erase(b["properties"].begin() + 5);  // Label removed: both
  auto changes = Diff(a, b);
  DiffSummary s = Summarise(changes);
  CHECK(s.breaks_devices == 2);
  CHECK(s.breaks_applications == 2);
  CHECK(s.compatible == 1);
  CHECK(s.breaking());
  json j = SummaryToJson(s);
  CHECK(j["breaking"] == true);
  CHECK(j["breaksDevices"] == 2);
  CHECK_FALSE(Summarise({}).breaking());
}

}  // namespace iot::tsl

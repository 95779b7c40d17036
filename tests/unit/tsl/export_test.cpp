#include "iot/tsl/export.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "iot/tsl/parser.hpp"

namespace iot::tsl {
namespace {

using nlohmann::json;
using test::Fixture;
using test::FixtureNames;

Module MustParse(const std::string& text) {
  auto result = ParseModule(text);
  REQUIRE(result.ok());
  return std::move(*result.module);
}

const json* FindById(const json& list, const std::string& id) {
  for (const json& entry : list) {
    if (entry.is_object() && entry.value("identifier", "") == id) {
      return &entry;
    }
  }
  return nullptr;
}

TEST_CASE("Export: export -> parse -> export is identical for every valid fixture", "[tsl][export]") {
  const std::string name = GENERATE(from_range(FixtureNames("valid")));
  INFO(name);
  const std::string first = ExportModuleText(MustParse(Fixture("valid/" + name)), 2);
  const std::string second = ExportModuleText(MustParse(first), 2);
  CHECK(first == second);
  CHECK(ExportModule(MustParse(second)) == json::parse(first));
}

TEST_CASE("Export: the reference example keeps every property and spec string", "[tsl][export]") {
  const json original = json::parse(Fixture("valid/reference_example.json"));
  const json exported = ExportModule(MustParse(original.dump()));
  // The fixture already lists the built-ins in full, so the export equals it.
  CHECK(exported["properties"] == original["properties"]);
  CHECK(exported["profile"] == original["profile"]);
  CHECK(exported["schema"] == original["schema"]);
  for (const char* id : {"post", "LowBattery", "Fault"}) {
    INFO(id);
    REQUIRE(FindById(exported["events"], id) != nullptr);
    CHECK(*FindById(exported["events"], id) == *FindById(original["events"], id));
  }
  for (const char* id : {"set", "get", "Reboot", "SelfTest"}) {
    INFO(id);
    REQUIRE(FindById(exported["services"], id) != nullptr);
    CHECK(*FindById(exported["services"], id) == *FindById(original["services"], id));
  }
  CHECK(exported == original);
}

TEST_CASE("Export: the built-ins are always present and derived from the properties", "[tsl][export]") {
  const json exported = ExportModule(MustParse(Fixture("valid/minimal.json")));
  const json* post = FindById(exported["events"], "post");
  REQUIRE(post != nullptr);
  CHECK((*post)["method"] == "thing.event.property.post");
  CHECK((*post)["outputData"].size() == 1);
  const json* set = FindById(exported["services"], "set");
  REQUIRE(set != nullptr);
  CHECK((*set)["inputData"][0]["identifier"] == "On");
  CHECK((*set)["outputData"] == json::array());
  const json* get = FindById(exported["services"], "get");
  REQUIRE(get != nullptr);
  CHECK((*get)["inputData"] == json::array({"On"}));
  CHECK((*get)["outputData"].size() == 1);
}

TEST_CASE("Export: set lists only writable properties, get lists all identifiers", "[tsl][export]") {
  const json exported = ExportModule(MustParse(Fixture("valid/reference_example.json")));
  const json* set = FindById(exported["services"], "set");
  REQUIRE(set != nullptr);
  std::vector<std::string> writable;
  for (const json& param : (*set)["inputData"]) {
    writable.push_back(param["identifier"]);
  }
  CHECK(writable == std::vector<std::string>{"PowerOn", "TargetTemp", "FanLevel", "Label", "Zones"});
  CHECK((*FindById(exported["services"], "get"))["inputData"].size() == 10);
}

TEST_CASE("Export: a custom module keeps functionBlockId and functionBlockName", "[tsl][export]") {
  const json exported = ExportModule(MustParse(Fixture("valid/custom_module.json")));
  CHECK(exported["functionBlockId"] == "testFb");
  CHECK(exported["functionBlockName"] == "Test block");
  CHECK(exported["services"][2]["callType"] == "sync");
}

TEST_CASE("Export: numbers given as JSON numbers come back as strings", "[tsl][export]") {
  const json doc{{"profile", {{"productKey", "a1Test00001"}}},
                 {"properties",
                  {{{"identifier", "N"},
                    {"name", "N"},
                    {"accessMode", "r"},
                    {"dataType", {{"type", "int"}, {"specs", {{"min", 0}, {"max", 10}}}}}}}}};
  const auto result = ParseModuleDocument(doc);
  REQUIRE(result.ok());
  const json exported = ExportModule(*result.module);
  CHECK(exported["properties"][0]["dataType"]["specs"] == json{{"min", "0"}, {"max", "10"}});
}

TEST_CASE("Export: hand-built modules with invalid UTF-8 still export", "[tsl][export]") {
  Module module;
  module.product_key = "a1Test00001";
  Property property;
  property.identifier = "A";
  property.name = "bad \xff name";
  property.data_type.kind = DataKind::kDate;
  module.properties.push_back(property);
  std::string text;
  REQUIRE_NOTHROW(text = ExportModuleText(module));
  CHECK(text.find("bad") != std::string::npos);
}

}  // namespace
}  // namespace iot::tsl

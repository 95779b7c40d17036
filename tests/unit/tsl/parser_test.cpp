#include "iot/tsl/parser.hpp"

#include <algorithm>
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"

namespace iot::tsl {
namespace {

using nlohmann::json;
using test::Fixture;
using test::FixtureNames;

std::set<std::string> Pointers(const std::vector<Problem>& problems) {
  std::set<std::string> pointers;
  for (const Problem& problem : problems) {
    pointers.insert(problem.pointer);
  }
  return pointers;
}

std::string Describe(const std::vector<Problem>& problems) {
  std::string text;
  for (const Problem& problem : problems) {
    text += "[" + problem.module + "] " + problem.pointer + ": " + problem.message + "\n";
  }
  return text;
}

// Parses a document built in a test and returns its problems.
std::vector<Problem> ProblemsOf(const json& document) { return ParseModuleDocument(document).problems; }

json Doc(json properties, json events = json::array(), json services = json::array()) {
  return json{{"profile", {{"productKey", "a1Test00001"}}},
              {"properties", std::move(properties)},
              {"events", std::move(events)},
              {"services", std::move(services)}};
}

json Prop(const std::string& id, json data_type, const std::string& mode = "rw") {
  return json{{"identifier", id}, {"name", "Name"}, {"accessMode", mode}, {"dataType", data_type}};
}

TEST_CASE("Parser: every valid fixture parses without problems", "[tsl][parser]") {
  const std::string name = GENERATE(from_range(FixtureNames("valid")));
  INFO(name);
  const auto result = ParseModule(Fixture("valid/" + name));
  INFO(Describe(result.problems));
  CHECK(result.ok());
  REQUIRE(result.module.has_value());
  CHECK_FALSE(result.module->product_key.empty());
}

TEST_CASE("Parser: every invalid fixture reports exactly its expected pointers", "[tsl][parser]") {
  const std::string name = GENERATE(from_range(FixtureNames("invalid")));
  INFO(name);
  const json fixture = json::parse(Fixture("invalid/" + name));
  const auto result = ParseModuleDocument(fixture.at("document"));
  INFO(Describe(result.problems));
  CHECK_FALSE(result.module.has_value());
  std::set<std::string> expected;
  for (const auto& pointer : fixture.at("expected")) {
    expected.insert(pointer.get<std::string>());
  }
  CHECK(Pointers(result.problems) == expected);
  for (const Problem& problem : result.problems) {
    CHECK_FALSE(problem.message.empty());
  }
}

TEST_CASE("Parser: reads the reference example completely", "[tsl][parser]") {
  const auto result = ParseModule(Fixture("valid/reference_example.json"));
  REQUIRE(result.ok());
  const Module& module = *result.module;
  CHECK(module.product_key == "a1ExAmPlEpk");
  CHECK(module.profile_version == "1.0");
  CHECK(module.function_block_id.empty());
  REQUIRE(module.properties.size() == 10);
  CHECK(module.events.size() == 2);    // post is built in
  CHECK(module.services.size() == 2);  // set and get are built in

  const Property& target = module.properties[1];
  CHECK(target.identifier == "TargetTemp");
  CHECK(target.access_mode == AccessMode::kReadWrite);
  CHECK(target.data_type.kind == DataKind::kFloat);
  CHECK(target.data_type.min == "5");
  CHECK(target.data_type.max == "35");
  CHECK(target.data_type.step == "0.5");
  CHECK(target.data_type.unit == "°C");
  CHECK(target.data_type.unit_name == "degree Celsius");
  CHECK(target.data_type.min_value == 5.0);

  const Property& position = module.properties[7];
  CHECK(position.data_type.kind == DataKind::kStruct);
  CHECK(position.data_type.members.size() == 7);
  CHECK(position.access_mode == AccessMode::kRead);

  const Property& zones = module.properties[9];
  CHECK(zones.data_type.kind == DataKind::kArray);
  CHECK(zones.data_type.limit == 4);
  REQUIRE(zones.data_type.item != nullptr);
  CHECK(zones.data_type.item->kind == DataKind::kStruct);
  CHECK(zones.data_type.item->members.size() == 2);

  const Property& fan = module.properties[3];
  REQUIRE(fan.data_type.items.size() == 3);
  CHECK(fan.data_type.items[2].key == 2);
  CHECK(fan.data_type.items[2].label == "high");

  CHECK(module.events[0].identifier == "LowBattery");
  CHECK(module.events[0].type == EventType::kAlert);
  CHECK(module.events[1].type == EventType::kError);
  CHECK(module.services[1].identifier == "SelfTest");
  CHECK(module.services[1].call_type == CallType::kSync);
  CHECK(module.services[1].outputs.params.size() == 2);
}

TEST_CASE("Parser: reads a custom module's functionBlockId and name", "[tsl][parser]") {
  const auto result = ParseModule(Fixture("valid/custom_module.json"));
  REQUIRE(result.ok());
  CHECK(result.module->function_block_id == "testFb");
  CHECK(result.module->function_block_name == "Test block");
}

TEST_CASE("Parser: generates the built-ins when the document has none", "[tsl][parser]") {
  const auto result = ParseModule(Fixture("valid/minimal.json"));
  REQUIRE(result.ok());
  CHECK(result.module->post_name == "post");
  CHECK(result.module->set_name == "set");
  CHECK(result.module->events.empty());
}

TEST_CASE("Parser: ignores unknown keys such as link and an event's callType", "[tsl][parser]") {
  json doc =
      Doc(json::array({Prop("A", {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "9"}, {"extra", 1}}}})}),
          json::array({{{"identifier", "E"},
                        {"name", "E"},
                        {"type", "info"},
                        {"callType", "async"},
                        {"outputData", json::array()}}}));
  doc["link"] = "/sys/a1Test00001/dev/thing/";
  doc["properties"][0]["whatever"] = {{"nested", true}};
  CHECK(ProblemsOf(doc).empty());
}

TEST_CASE("Parser: reports a problem for each reserved word", "[tsl][parser]") {
  const std::string word = GENERATE("set", "get", "post", "property", "event", "time", "value");
  SECTION("as a property identifier") {
    const auto problems = ProblemsOf(Doc(json::array({Prop(word, {{"type", "date"}})})));
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].pointer == "/properties/0/identifier");
    CHECK_THAT(problems[0].message, Catch::Contains("reserved"));
  }
  SECTION("as a custom service identifier, except the built-ins") {
    const json service{{"identifier", word},
                       {"name", "S"},
                       {"callType", "async"},
                       {"inputData", json::array()},
                       {"outputData", json::array()}};
    const auto problems = ProblemsOf(Doc(json::array(), json::array(), json::array({service})));
    if (word == "set" || word == "get") {
      CHECK(problems.empty());
    } else {
      REQUIRE(problems.size() == 1);
      CHECK(problems[0].pointer == "/services/0/identifier");
    }
  }
}

TEST_CASE("Parser: struct members may not be named value or time", "[tsl][parser]") {
  const std::string word = GENERATE("value", "time");
  const json member{{"identifier", word}, {"name", "M"}, {"dataType", {{"type", "int"}}}};
  const auto problems =
      ProblemsOf(Doc(json::array({Prop("S", {{"type", "struct"}, {"specs", json::array({member})}})})));
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].pointer == "/properties/0/dataType/specs/0/identifier");
}

TEST_CASE("Parser: enforces identifier pattern and length", "[tsl][parser]") {
  SECTION("50 characters pass, 51 fail") {
    CHECK(ProblemsOf(Doc(json::array({Prop(std::string(50, 'a'), {{"type", "date"}})}))).empty());
    CHECK(ProblemsOf(Doc(json::array({Prop(std::string(51, 'a'), {{"type", "date"}})}))).size() == 1);
  }
  SECTION("letters, digits and underscore only") {
    const std::string bad = GENERATE("a-b", "a b", "a.b", "a:b", "é", "");
    const auto problems = ProblemsOf(Doc(json::array({Prop(bad, {{"type", "date"}})})));
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].pointer == "/properties/0/identifier");
  }
  SECTION("functionBlockId allows 30 characters") {
    json doc = Doc(json::array());
    doc["functionBlockName"] = "Block";
    doc["functionBlockId"] = std::string(30, '_');
    CHECK(ProblemsOf(doc).empty());
    doc["functionBlockId"] = std::string(31, '_');
    CHECK(Pointers(ProblemsOf(doc)) == std::set<std::string>{"/functionBlockId"});
  }
}

TEST_CASE("Parser: identifiers are unique across properties, events and services", "[tsl][parser]") {
  const json event{{"identifier", "X"}, {"name", "E"}, {"type", "info"}, {"outputData", json::array()}};
  const json service{
      {"identifier", "X"}, {"name", "S"}, {"inputData", json::array()}, {"outputData", json::array()}};
  const auto problems = ProblemsOf(
      Doc(json::array({Prop("X", {{"type", "date"}})}), json::array({event}), json::array({service})));
  CHECK(Pointers(problems) == std::set<std::string>{"/events/0/identifier", "/services/0/identifier"});
}

TEST_CASE("Parser: checks number specs per type", "[tsl][parser]") {
  struct Case {
    const char* type;
    json specs;
    const char* pointer;  // "" when valid
  };
  const auto c = GENERATE(values<Case>({
      {"int", {{"min", "-2147483648"}, {"max", "2147483647"}, {"step", "1"}}, ""},
      {"int", {{"min", "-2147483649"}}, "/specs/min"},
      {"int", {{"max", "0.5"}}, "/specs/max"},
      {"int", {{"min", "1"}, {"max", "1"}}, ""},
      {"int", {{"min", "2"}, {"max", "1"}}, "/specs/min"},
      {"int", {{"step", "0"}}, "/specs/step"},
      {"int", {{"min", "01"}}, "/specs/min"},
      {"int", {{"min", true}}, "/specs/min"},
      {"int", {{"min", 3}}, ""},  // numbers are normalised to strings
      {"float", {{"min", "-1e3"}, {"max", "1.5E+3"}, {"step", "0.001"}}, ""},
      {"float", {{"max", "1e39"}}, "/specs/max"},
      {"double", {{"max", "1e308"}}, ""},
      {"double", {{"max", "inf"}}, "/specs/max"},
      {"double", {{"max", "nan"}}, "/specs/max"},
      {"double", {{"max", " 1"}}, "/specs/max"},
      {"double", {{"max", "1."}}, "/specs/max"},
      {"double", {{"step", "-0.1"}}, "/specs/step"},
      {"float", {{"unit", 5}}, "/specs/unit"},
  }));
  INFO(c.type << " " << c.specs.dump());
  const auto problems = ProblemsOf(Doc(json::array({Prop("N", {{"type", c.type}, {"specs", c.specs}})})));
  if (std::string(c.pointer).empty()) {
    CHECK(problems.empty());
  } else {
    CHECK(Pointers(problems) == std::set<std::string>{"/properties/0/dataType" + std::string(c.pointer)});
  }
}

TEST_CASE("Parser: checks text, array, enum and bool specs at their limits", "[tsl][parser]") {
  struct Case {
    json data_type;
    const char* pointer;
  };
  json big_enum = json::object();
  for (int i = 0; i < 100; ++i) {
    big_enum[std::to_string(i)] = "v";
  }
  json too_big_enum = big_enum;
  too_big_enum["100"] = "v";
  json members = json::array();
  for (int i = 0; i < 50; ++i) {
    members.push_back({{"identifier", std::string("m").append(std::to_string(i))},
                       {"name", "m"},
                       {"dataType", {{"type", "date"}}}});
  }
  json too_many_members = members;
  too_many_members.push_back({{"identifier", "m50"}, {"name", "m"}, {"dataType", {{"type", "date"}}}});
  const auto c = GENERATE_COPY(values<Case>({
      {{{"type", "text"}, {"specs", {{"length", "1"}}}}, ""},
      {{{"type", "text"}, {"specs", {{"length", "10240"}}}}, ""},
      {{{"type", "text"}, {"specs", {{"length", "10241"}}}}, "/specs/length"},
      {{{"type", "text"}, {"specs", {{"length", "-1"}}}}, "/specs/length"},
      {{{"type", "array"}, {"specs", {{"size", "512"}, {"item", {{"type", "int"}}}}}}, ""},
      {{{"type", "array"}, {"specs", {{"size", "1"}, {"item", {{"type", "text"}}}}}}, ""},
      {{{"type", "array"}, {"specs", {{"size", "513"}, {"item", {{"type", "int"}}}}}}, "/specs/size"},
      {{{"type", "array"}, {"specs", {{"size", "4"}}}}, "/specs/item"},
      {{{"type", "array"}, {"specs", {{"size", "4"}, {"item", {{"type", "date"}}}}}}, "/specs/item/type"},
      {{{"type", "array"}, {"specs", {{"size", "4"}, {"item", {{"type", "struct"}}}}}}, "/specs/item/specs"},
      {{{"type", "enum"}, {"specs", big_enum}}, ""},
      {{{"type", "enum"}, {"specs", too_big_enum}}, "/specs"},
      {{{"type", "enum"}, {"specs", json::object()}}, "/specs"},
      {{{"type", "enum"}, {"specs", {{"-1", "minus"}, {"2147483647", "max"}}}}, ""},
      {{{"type", "enum"}, {"specs", {{"1.0", "x"}}}}, "/specs/1.0"},
      {{{"type", "enum"}, {"specs", {{"a/b", "x"}}}}, "/specs/a~1b"},
      {{{"type", "bool"}, {"specs", {{"0", "no"}, {"1", "yes"}, {"2", "maybe"}}}}, "/specs/2"},
      {{{"type", "bool"}, {"specs", {{"0", "no"}, {"1", ""}}}}, "/specs/1"},
      {{{"type", "bool"}, {"specs", {{"0", "no"}, {"1", std::string(21, 'y')}}}}, "/specs/1"},
      {{{"type", "struct"}, {"specs", members}}, ""},
      {{{"type", "struct"}, {"specs", too_many_members}}, "/specs"},
      {{{"type", "struct"}, {"specs", {{"not", "a list"}}}}, "/specs"},
      {{{"type", "struct"}}, "/specs"},
      {{{"type", "date"}}, ""},
      {{{"type", "INT"}}, "/type"},
      {{{"specs", json::object()}}, "/type"},
      {json("int"), ""},
  }));
  INFO(c.data_type.dump().substr(0, 200));
  const auto problems = ProblemsOf(Doc(json::array({Prop("V", c.data_type)})));
  if (std::string(c.pointer).empty()) {
    if (c.data_type.is_string()) {
      CHECK(Pointers(problems) == std::set<std::string>{"/properties/0/dataType"});
    } else {
      CHECK(problems.empty());
    }
  } else {
    CHECK(Pointers(problems) == std::set<std::string>{"/properties/0/dataType" + std::string(c.pointer)});
  }
}

TEST_CASE("Parser: checks names, access mode, event type and call type", "[tsl][parser]") {
  json prop = Prop("A", {{"type", "date"}});
  SECTION("a name of 30 characters (CJK count as one) passes, 31 fail") {
    std::string cjk;
    for (int i = 0; i < 30; ++i) {
      cjk += "温";
    }
    prop["name"] = cjk;
    CHECK(ProblemsOf(Doc(json::array({prop}))).empty());
    prop["name"] = cjk + "度";
    CHECK(Pointers(ProblemsOf(Doc(json::array({prop})))) == std::set<std::string>{"/properties/0/name"});
  }
  SECTION("a name must not start with punctuation or be empty") {
    prop["name"] = GENERATE("-x", "", " x");
    CHECK(Pointers(ProblemsOf(Doc(json::array({prop})))) == std::set<std::string>{"/properties/0/name"});
  }
  SECTION("accessMode must be r or rw (w is tolerated)") {
    prop["accessMode"] = "w";
    CHECK(ProblemsOf(Doc(json::array({prop}))).empty());
    prop["accessMode"] = "read";
    CHECK(Pointers(ProblemsOf(Doc(json::array({prop})))) ==
          std::set<std::string>{"/properties/0/accessMode"});
  }
  SECTION("required must be a bool") {
    prop["required"] = "yes";
    CHECK(Pointers(ProblemsOf(Doc(json::array({prop})))) == std::set<std::string>{"/properties/0/required"});
  }
}

TEST_CASE("Parser: reports every problem of a document at once", "[tsl][parser]") {
  const json fixture = json::parse(Fixture("invalid/bad_specs.json"));
  const auto result = ParseModuleDocument(fixture.at("document"));
  CHECK(result.problems.size() >= fixture.at("expected").size());
  const auto it = std::find_if(result.problems.begin(), result.problems.end(), [](const Problem& p) {
    return p.pointer == "/properties/0/dataType/specs/min";
  });
  REQUIRE(it != result.problems.end());
  CHECK(it->message == "min 10 is greater than max 5");
}

TEST_CASE("Parser: builds a model from the default and custom modules", "[tsl][parser][model]") {
  const std::string main = Fixture("valid/reference_example.json");
  const std::string custom = Fixture("valid/custom_module.json");
  SECTION("valid") {
    const auto result = ParseThingModel(main, {custom});
    INFO(Describe(result.problems));
    REQUIRE(result.ok());
    CHECK(result.model->modules().size() == 2);
    CHECK(result.model->product_key() == "a1ExAmPlEpk");
  }
  SECTION("a custom module twice") {
    const auto result = ParseThingModel(main, {custom, custom});
    CHECK_FALSE(result.ok());
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].module == "testFb");
    CHECK(result.problems[0].pointer == "/functionBlockId");
  }
  SECTION("a custom document without functionBlockId") {
    const auto result = ParseThingModel(main, {Fixture("valid/minimal.json")});
    CHECK(Pointers(result.problems) == std::set<std::string>{"/functionBlockId", "/profile/productKey"});
  }
  SECTION("problems in a custom module name the module") {
    json bad = json::parse(custom);
    bad["properties"][0]["identifier"] = "bad id";
    const auto result = ParseThingModel(main, {bad.dump()});
    REQUIRE(result.problems.size() == 1);
    CHECK(result.problems[0].module == "testFb");
    CHECK(result.problems[0].pointer == "/properties/0/identifier");
  }
  SECTION("more than 20 modules") {
    std::vector<std::string> texts;
    for (int i = 0; i < 20; ++i) {
      json module = json::parse(custom);
      module["functionBlockId"] = "fb" + std::to_string(i);
      texts.push_back(module.dump());
    }
    const std::vector<std::string_view> views(texts.begin(), texts.end());
    const auto result = ParseThingModel(main, views);
    REQUIRE(result.problems.size() == 1);
    CHECK_THAT(result.problems[0].message, Catch::Contains("20 modules"));
  }
}

}  // namespace
}  // namespace iot::tsl

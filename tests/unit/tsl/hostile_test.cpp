// Hostile input: nothing may crash, throw or echo megabytes back; everything becomes a problem
// or a refusal.

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "iot/common/codes.hpp"
#include "iot/tsl/export.hpp"
#include "iot/tsl/parser.hpp"
#include "iot/tsl/validator.hpp"

namespace iot::tsl {
namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1700000000000;

std::string Nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// Built as text so that invalid UTF-8 reaches the parser unchanged.
std::string DocWithIdentifier(const std::string& id) {
  return R"({"profile":{"productKey":"a1Test00001"},"properties":[{"identifier":")" + id +
         R"(","name":"N","accessMode":"r","dataType":{"type":"date"}}]})";
}

TEST_CASE("Hostile TSL: malformed documents produce problems, never crashes", "[tsl][parser][hostile]") {
  const std::string text =
      GENERATE(std::string(), std::string("null"), std::string("[]"), std::string("42"), std::string("{"),
               std::string("{\"profile\":1e400}"), std::string("{\"a\":\"\xff\xfe\"}"),
               std::string("{\"a\":\"\xc0\xaf\"}"),  // overlong encoding
               std::string("{\"profile\":{\"productKey\":\"pk\"},\"properties\":") + Nested(10000) + "}",
               Nested(10000), std::string(100000, '{'), std::string("{\"x\":\"") + std::string(100, '\\'));
  INFO(text.substr(0, 80));
  ModuleResult result;
  REQUIRE_NOTHROW(result = ParseModule(text));
  CHECK_FALSE(result.ok());
  CHECK_FALSE(result.problems.empty());
}

TEST_CASE("Hostile TSL: deep nesting is refused while parsing", "[tsl][parser][hostile]") {
  const auto result = ParseModule(Nested(10000));
  REQUIRE(result.problems.size() == 1);
  CHECK(result.problems[0].message == "JSON nested deeper than 64");
  // 64 levels parse (and then fail as a TSL); 65 do not.
  CHECK(ParseModule(Nested(64)).problems.at(0).message != "JSON nested deeper than 64");
  CHECK(ParseModule(Nested(65)).problems.at(0).message == "JSON nested deeper than 64");
}

TEST_CASE("Hostile TSL: a huge document is refused by size", "[tsl][parser][hostile]") {
  std::string text = "{\"pad\":\"" + std::string(kMaxDocumentBytes, 'x') + "\"}";
  const auto result = ParseModule(text);
  REQUIRE(result.problems.size() == 1);
  CHECK_THAT(result.problems[0].message, Catch::Contains("larger than"));
}

TEST_CASE("Hostile TSL: empty and 100 KB identifiers give short problems", "[tsl][parser][hostile]") {
  const std::string id = GENERATE(std::string(), std::string(100 * 1024, 'a'), std::string("\xff"));
  const auto result = ParseModule(DocWithIdentifier(id));
  REQUIRE(result.problems.size() == 1);
  CHECK(result.problems[0].message.size() < 200);
}

TEST_CASE("Hostile TSL: huge numbers in specs are problems", "[tsl][parser][hostile]") {
  const std::string spec =
      GENERATE(std::string("\"99999999999999999999\""), std::string("99999999999999999999"),
               std::string("\"1e400\""), std::string("-99999999999999999999"));
  const std::string text = R"({"profile":{"productKey":"pk"},"properties":[{"identifier":"A","name":"A",)"
                           R"("accessMode":"r","dataType":{"type":"int","specs":{"max":)" +
                           spec + "}}}]}";
  const auto result = ParseModule(text);
  INFO(spec);
  REQUIRE(result.problems.size() == 1);
  CHECK(result.problems[0].pointer == "/properties/0/dataType/specs/max");
}

TEST_CASE("Hostile TSL: invalid UTF-8 in a caller-built document is a problem", "[tsl][parser][hostile]") {
  json doc = json::parse(DocWithIdentifier("A"));
  doc["properties"][0]["name"] = "bad \xff name";
  doc["properties"][0]["desc"] = "\xe2\x82";
  const auto result = ParseModuleDocument(doc);
  CHECK(result.problems.size() == 2);
}

TEST_CASE("Hostile TSL: problems are capped for a document full of errors", "[tsl][parser][hostile]") {
  json properties = json::array();
  for (int i = 0; i < 5000; ++i) {
    properties.push_back(1);
  }
  const json doc{{"profile", {{"productKey", "pk"}}}, {"properties", properties}};
  const auto result = ParseModuleDocument(doc);
  CHECK(result.problems.size() == kMaxProblems + 1);
  CHECK_THAT(result.problems.back().message, Catch::Contains("more problems"));
}

TEST_CASE("Hostile payloads: deep, huge and odd values are refused cleanly", "[tsl][validator][hostile]") {
  const ThingModel model = test::ReferenceModel();
  const Mode mode = GENERATE(Mode::kNone, Mode::kWeak, Mode::kStrict);
  const Validator validator(&model, mode);
  SECTION("10,000-deep nesting as a value") {
    const std::string text =
        R"({"RunCount":)" + Nested(10000) + R"(,"Position":{"Note":)" + Nested(10000) + "}}";
    const json params = json::parse(text, nullptr, false);
    REQUIRE_FALSE(params.is_discarded());
    Report report;
    REQUIRE_NOTHROW(report = validator.PropertyPost(params, kNow));
    if (mode == Mode::kNone) {
      CHECK(report.accepted.size() == 2);
    } else {
      REQUIRE(report.refused.size() == 2);
      CHECK(report.refused[1].message == "RunCount: [...] is not an int");
    }
  }
  SECTION("1e400 is not valid JSON; 99999999999999999999 is not an int but is a double") {
    CHECK(json::parse(R"({"Humidity":1e400})", nullptr, false).is_discarded());
    const json params = json::parse(R"({"RunCount":99999999999999999999,"Humidity":99999999999999999999,
                                        "FanLevel":18446744073709551615})");
    const Report report = validator.PropertyPost(params, kNow);
    if (mode == Mode::kNone) {
      CHECK(report.accepted.size() == 3);
    } else {
      // Humidity: a finite double, above max only in strict.
      CHECK(report.refused.size() == (mode == Mode::kStrict ? 3u : 2u));
    }
  }
  SECTION("empty and 100 KB identifiers") {
    const std::string long_id(100 * 1024, 'a');
    const json params{{"", 1}, {long_id, 1}};
    const Report report = validator.PropertyPost(params, kNow);
    if (mode != Mode::kNone) {
      REQUIRE(report.refused.size() == 2);
      CHECK(report.refused[0].message == ": params not exist");
      CHECK(report.refused[1].identifier == long_id);
      CHECK(report.refused[1].message.size() < 100);
    }
  }
  SECTION("invalid UTF-8 in a caller-built payload gives valid UTF-8 messages") {
    const json params{{"Label\xff", "x"}, {"Label", json::array({"\xff\xfe"})}};
    const Report report = validator.PropertyPost(params, kNow);
    for (const Refusal& refusal : report.refused) {
      CHECK_NOTHROW(json(refusal.message).dump());
    }
  }
  SECTION("NaN and infinity built by a caller") {
    const json params{{"Humidity", std::numeric_limits<double>::quiet_NaN()},
                      {"TargetTemp", std::numeric_limits<double>::infinity()}};
    const Report report = validator.PropertyPost(params, kNow);
    CHECK(report.refused.size() == (mode == Mode::kNone ? 0u : 2u));
  }
  SECTION("many items in arrays and structs") {
    json samples = json::array();
    for (int i = 0; i < 100000; ++i) {
      samples.push_back(1.5);
    }
    const json params{{"Samples", samples}};
    const Report report = validator.PropertyPost(params, kNow);
    CHECK(report.refused.size() == (mode == Mode::kStrict ? 1u : 0u));
  }
}

}  // namespace
}  // namespace iot::tsl

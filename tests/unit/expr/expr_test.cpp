#include "iot/expr/expr.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace iot::expr {
namespace {

using nlohmann::json;

bool Eval(const std::string& text, const json& values) {
  auto parsed = Parse(text);
  INFO(text << " -> " << (parsed.error ? parsed.error->Describe() : ""));
  REQUIRE(parsed.ok());
  return parsed.expression->Matches(values);
}

ParseError ErrorOf(const std::string& text, const Limits& limits = {}) {
  auto parsed = Parse(text, limits);
  INFO(text);
  REQUIRE_FALSE(parsed.ok());
  REQUIRE(parsed.error.has_value());
  return *parsed.error;
}

TEST_CASE("expr: comparisons of numbers with && and ||") {
  const json v = {{"Temp", 41.5}, {"Humidity", 10}};
  CHECK(Eval("Temp > 40 && Humidity < 20", v));
  CHECK_FALSE(Eval("Temp > 42 && Humidity < 20", v));
  CHECK(Eval("Temp > 42 || Humidity < 20", v));
  CHECK(Eval("Temp >= 41.5 && Temp <= 41.5 && Temp == 41.5 && Temp != 41", v));
  CHECK(Eval("Humidity == 1e1", v));
  CHECK(Eval("Temp > -3.5", v));
  CHECK(Eval("-.5 < Temp", v));
  CHECK_FALSE(Eval("Temp < 0", v));
}

TEST_CASE("expr: precedence - && binds tighter than || and ! tighter than &&") {
  const json v = {{"a", 1}, {"b", 0}, {"c", 1}};
  CHECK(Eval("a == 1 || b == 1 && c == 0", v));  // a || (b && !c)
  CHECK_FALSE(Eval("(a == 1 || b == 1) && c == 0", v));
  CHECK(Eval("!(b == 1) && a == 1", v));
  CHECK_FALSE(Eval("!b == 0", v));  // !(b == 0)
  CHECK(Eval("!!(a == 1)", v));
}

TEST_CASE("expr: strings, booleans and typed comparisons") {
  const json v = {{"Label", "kitchen"}, {"On", true}, {"Power", 1}, {"Level", "5"}};
  CHECK(Eval("Label == \"kitchen\"", v));
  CHECK(Eval("Label == 'kitchen' && Label != 'hall' && Label > 'aaa'", v));
  CHECK(Eval("On == true && On != false", v));
  CHECK_FALSE(Eval("On > false", v));  // booleans only compare for equality
  CHECK(Eval("Power == true", v));     // Alink bools are 0/1
  CHECK(Eval("On == 1", v));
  CHECK_FALSE(Eval("Level == 5", v));  // a string is no number
  CHECK_FALSE(Eval("Level != 5", v));  // different types: false either way
  CHECK(Eval("Label == 'a\\'b' || true", v));
  CHECK(Eval("'x\\ty' != 'x'", v));
}

TEST_CASE("expr: a missing identifier makes its comparisons false") {
  const json v = {{"Temp", 30}, {"Nothing", nullptr}, {"List", json::array({1})}};
  CHECK_FALSE(Eval("Humidity < 20", v));
  CHECK_FALSE(Eval("Humidity != 20", v));
  CHECK(Eval("!(Humidity < 20)", v));
  CHECK(Eval("Humidity < 20 || Temp == 30", v));
  CHECK_FALSE(Eval("Nothing == 1", v));
  CHECK_FALSE(Eval("List == 1", v));
  CHECK_FALSE(Eval("Humidity", v));
  CHECK_FALSE(Eval("Temp < 40", json::array()));  // no values at all
}

TEST_CASE("expr: struct members and module identifiers") {
  const json v = {{"Position", {{"Lat", 30.5}, {"Fix", 1}}}, {"fb1:Temp", 50}};
  CHECK(Eval("Position.Lat > 30 && Position.Fix == 1", v));
  CHECK_FALSE(Eval("Position.Lng > 0", v));
  CHECK_FALSE(Eval("Position.Lat.Deeper > 0", v));
  CHECK(Eval("fb1:Temp >= 50", v));
}

TEST_CASE("expr: operands on their own are conditions") {
  const json v = {{"On", 1}, {"Off", 0}, {"Name", ""}, {"B", true}};
  CHECK(Eval("On && B", v));
  CHECK_FALSE(Eval("Off", v));
  CHECK_FALSE(Eval("Name", v));
  CHECK(Eval("true", v));
  CHECK_FALSE(Eval("false || Off", v));
  CHECK(Eval("(On > 0) == true", v));
}

TEST_CASE("expr: identifiers are listed once in order of appearance") {
  auto parsed = Parse("b > 1 && a.x < 2 || b == 3 && c");
  REQUIRE(parsed.ok());
  CHECK(parsed.expression->Identifiers() == std::vector<std::string>{"b", "a", "c"});
  CHECK(parsed.expression->Text() == "b > 1 && a.x < 2 || b == 3 && c");
}

TEST_CASE("expr: the lookup form reads only what the expression names") {
  auto parsed = Parse("Temp > 1");
  REQUIRE(parsed.ok());
  int calls = 0;
  const json temp = 5;
  CHECK(parsed.expression->Matches([&](std::string_view id) -> const json* {
    ++calls;
    return id == "Temp" ? &temp : nullptr;
  }));
  CHECK(calls == 1);
}

TEST_CASE("expr: parse errors name the column and the problem") {
  CHECK(ErrorOf("").message == "empty expression");
  CHECK(ErrorOf("   ").offset == 3);
  auto e = ErrorOf("Temp > 40 &&");
  CHECK(e.offset == 12);
  CHECK(e.Describe() == "column 13: expected an operand, found the end of text");
  CHECK(ErrorOf("Temp = 40").message == "'=' is no operator: write '==' to compare");
  CHECK(ErrorOf("Temp = 40").offset == 5);
  CHECK(ErrorOf("(Temp > 40").message == "expected ')', found end of text");
  CHECK(ErrorOf("Temp > 40)").offset == 9);
  CHECK(ErrorOf("1 < Temp < 3").message.find("do not chain") != std::string::npos);
  CHECK(ErrorOf("Label == 'open").message == "string not closed");
  CHECK(ErrorOf("Label == 'a\\x'").message.find("unknown escape") != std::string::npos);
  CHECK(ErrorOf("Temp > 1.").message == "a number needs digits after '.'");
  CHECK(ErrorOf("Temp > 1e").message == "a number's exponent needs digits");
  CHECK(ErrorOf("Temp > 12abc").offset == 7);
  CHECK(ErrorOf("Temp > 1e999").message == "number out of range");
  CHECK(ErrorOf("&& Temp").message == "expected an operand before '&'");
  CHECK(ErrorOf("Temp > 40 # comment").offset == 10);
  CHECK(ErrorOf("Position. > 1").message == "expected a name, found ' '");
  CHECK(ErrorOf("Temp > 1 Humidity").message.find("after a complete expression") != std::string::npos);
  CHECK(ErrorOf("T\x01").message == "unexpected character after a complete expression");
}

TEST_CASE("expr: length and nesting are bounded") {
  CHECK(ErrorOf(std::string(4097, ' ')).message == "longer than 4096 bytes");
  CHECK(ErrorOf("a > 1", Limits{.max_length = 4}).message == "longer than 4 bytes");
  std::string deep = std::string(33, '(') + "a" + std::string(33, ')');
  CHECK(ErrorOf(deep).message == "nested deeper than 32");
  std::string ok = std::string(31, '(') + "a" + std::string(31, ')');
  CHECK(Parse(ok).ok());
  CHECK(ErrorOf(std::string(40, '!') + "a").message == "nested deeper than 32");
  // A long flat chain is no nesting: it parses and evaluates without deep recursion.
  std::string chain = "a == 1";
  while (chain.size() < 4000) {
    chain += " && a == 1";
  }
  CHECK(Eval(chain, json{{"a", 1}}));
}

}  // namespace
}  // namespace iot::expr

#include "iot/common/json.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace {

std::string Nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

}  // namespace

TEST_CASE("ParseJson: the depth limit is enforced while parsing", "[common][json]") {
  nlohmann::json root;
  CHECK(iot::ParseJson(Nested(64), root) == iot::JsonParseStatus::kOk);
  CHECK(root.is_array());
  CHECK(iot::ParseJson(Nested(65), root) == iot::JsonParseStatus::kTooDeep);
  CHECK(root.is_null());  // the partial document is not handed out
  // Far beyond the limit, and unterminated: refused at level 65 without reading the rest.
  CHECK(iot::ParseJson(Nested(1000000), root) == iot::JsonParseStatus::kTooDeep);
  CHECK(iot::ParseJson(std::string(1000000, '{'), root) != iot::JsonParseStatus::kOk);
  CHECK(iot::ParseJson(R"({"a":[1,{"b":null}]})", root, {.max_depth = 2}) == iot::JsonParseStatus::kTooDeep);
  CHECK(iot::JsonTooDeepMessage() == "JSON nested deeper than 64");
}

TEST_CASE("ParseJson: malformed input reports the byte and nlohmann's words", "[common][json]") {
  nlohmann::json root;
  std::size_t byte = 0;
  std::string message;
  CHECK(iot::ParseJson(R"({"a": tru})", root, {.error_byte = &byte, .error_message = &message}) ==
        iot::JsonParseStatus::kMalformed);
  CHECK(byte == 10);
  CHECK(message.find("parse error") != std::string::npos);
  CHECK(iot::ParseJson("\xff", root) == iot::JsonParseStatus::kMalformed);
  CHECK(iot::ParseJson("", root) == iot::JsonParseStatus::kMalformed);
}

TEST_CASE("ParseJson: a top-level number's text can be captured", "[common][json]") {
  nlohmann::json root;
  std::string captured;
  REQUIRE(iot::ParseJson(R"({"id":1.5e3,"x":{"id":2}})", root,
                         {.capture_key = "id", .captured = &captured}) == iot::JsonParseStatus::kOk);
  CHECK(captured == "1.5e3");
  CHECK(root["x"]["id"] == 2);
}

namespace {

// Same document, node for node, with the same number types (unsigned, signed, float).
bool SameDocument(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) {
    return false;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) {
      return false;
    }
    for (auto it = a.begin(), jt = b.begin(); it != a.end(); ++it, ++jt) {
      if (it.key() != jt.key() || !SameDocument(*it, *jt)) {
        return false;
      }
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) {
      return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!SameDocument(a[i], b[i])) {
        return false;
      }
    }
    return true;
  }
  if (a.is_number_float()) {  // bit for bit (NaN cannot occur)
    return a.get<double>() == b.get<double>() &&
           std::signbit(a.get<double>()) == std::signbit(b.get<double>());
  }
  return a == b;
}

// ParseJson (its fast reader, or nlohmann when the reader gives up) against nlohmann's own parser:
// the same verdict and the same document.
void CheckAgainstNlohmann(const std::string& text) {
  INFO("input: " << nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  nlohmann::json ours;
  const auto status = iot::ParseJson(text, ours);
  const nlohmann::json theirs = nlohmann::json::parse(text, nullptr, false);
  REQUIRE((status == iot::JsonParseStatus::kOk) == !theirs.is_discarded());
  if (status == iot::JsonParseStatus::kOk) {
    CHECK(SameDocument(ours, theirs));
  } else {
    CHECK(ours.is_null());
  }
}

}  // namespace

TEST_CASE("ParseJson: the fast reader accepts exactly what nlohmann accepts, as the same document",
          "[common][json]") {
  const std::vector<std::string> corpus = {
      // numbers
      "0",
      "-0",
      "1",
      "-1",
      "1.0",
      "-0.0",
      "1e5",
      "1E+5",
      "-1e-5",
      "1.5e3",
      "123456789012345678",
      "18446744073709551615",
      "18446744073709551616",
      "-9223372036854775808",
      "-9223372036854775809",
      "9223372036854775808",
      "1e400",
      "-1e400",
      "1e-400",
      "5e-324",
      "2.2250738585072014e-308",
      "0.1",
      "3.141592653589793238462643383279",
      "01",
      "-01",
      "1.",
      ".5",
      "-",
      "+1",
      "1e",
      "1e+",
      "0x10",
      "1.e5",
      "--1",
      "1-",
      "00",
      "-.5",
      "1ee5",
      "1.5.5",
      "Infinity",
      "NaN",
      // literals and whitespace
      "true",
      "false",
      "null",
      "tru",
      "nul",
      "falsee",
      "truex",
      "True",
      " \t\r\n null \n",
      "\vnull",
      "\fnull",
      "null null",
      "",
      " ",
      "\xEF\xBB\xBF{}",
      "\xEF\xBB{}",
      // strings
      R"("")",
      R"("abc")",
      R"("a\"b\\c\/d\b\f\n\r\t")",
      R"("\u0000")",
      R"("a\u0000b")",
      R"("\u00e9\u20AC")",
      R"("\ud83d\ude00")",
      R"("\ud83d")",
      R"("\ude00")",
      R"("\ud83d\u0041")",
      R"("\ud83dx")",
      R"("\u12")",
      R"("\u12G4")",
      R"("\x41")",
      R"("\a")",
      "\"abc",
      "\"a\tb\"",
      "\"a\nb\"",
      "\"\x1f\"",
      "\"\x7f\"",
      "\"caf\xC3\xA9\"",
      "\"\xC3\"",
      "\"\xC0\x80\"",
      "\"\xC1\xBF\"",
      "\"\xE0\x80\x80\"",
      "\"\xE0\xA0\x80\"",
      "\"\xED\x9F\xBF\"",
      "\"\xED\xA0\x80\"",
      "\"\xEF\xBF\xBF\"",
      "\"\xF0\x8F\xBF\xBF\"",
      "\"\xF0\x90\x80\x80\"",
      "\"\xF4\x8F\xBF\xBF\"",
      "\"\xF4\x90\x80\x80\"",
      "\"\xF5\x80\x80\x80\"",
      "\"\x80\"",
      "\"\xFF\"",
      "\"\xE2\x82\"",
      "\"\xE2\x82\xAC\"",
      // containers
      "{}",
      "[]",
      "[1,2,3]",
      "[1,]",
      "[,1]",
      "[1 2]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":1,\"a\":2}",
      "{\"a\":{\"b\":[1,{\"c\":null}]}}",
      "[[[[[]]]]]",
      "{\"a\":1}}",
      "[1]]",
      "{\"a\":[}",
      "{",
      "[",
      "{\"a\"",
      "{\"a\":",
      "{\"a\":1",
      "[1,2",
      " [ 1 , { \"x\" : \"y\" } ] ",
      "{\"\":0}",
      "{\"id\":\"1\",\"params\":{}}",
      R"({"id":"1","version":"1.0","params":{"Temp":{"value":21.5,"time":1700000000000},"On":1,
          "Pos":{"lat":1.5,"lng":-2.25},"Arr":[1.5,2.5],"S":"hello"},"method":"thing.event.property.post"})",
  };
  for (const auto& text : corpus) {
    CheckAgainstNlohmann(text);
  }
  // Every single-byte change and every truncation of a realistic post.
  const std::string post =
      R"({"id":"123","version":"1.0","sys":{"ack":1},"params":{"Temperature":{"value":-21.5e1,"time":1700000000000},)"
      R"("Power":1,"Mode":"auto","Label":"caf\u00e9 \ud83d\ude00","Pos":{"lat":31.25,"lng":121.5},)"
      R"("Vals":[1,2.5,-3,true,false,null],"Big":18446744073709551615},"method":"thing.event.property.post"})";
  const std::string bytes = "{}[]\":,-+.eE0159tfnu\\ \x80\xC3\xA9\xED\xF0\x01\xFF";
  for (std::size_t i = 0; i < post.size(); ++i) {
    CheckAgainstNlohmann(post.substr(0, i));
    for (char b : bytes) {
      std::string mutated = post;
      mutated[i] = b;
      CheckAgainstNlohmann(mutated);
    }
    std::string removed = post;
    removed.erase(i, 1);
    CheckAgainstNlohmann(removed);
  }
}

TEST_CASE("ParseJson: the depth limit and the capture hold when the fast reader hands over",
          "[common][json]") {
  nlohmann::json root;
  std::string captured = "before";
  // Malformed after the captured member: nlohmann captures it again, then reports the error.
  CHECK(iot::ParseJson(R"({"id":17,"x":tru})", root, {.capture_key = "id", .captured = &captured}) ==
        iot::JsonParseStatus::kMalformed);
  CHECK(captured == "17");
  captured = "before";
  // A byte order mark: the fast reader gives up, nlohmann skips it and captures.
  CHECK(iot::ParseJson("\xEF\xBB\xBF{\"id\":2.50}", root, {.capture_key = "id", .captured = &captured}) ==
        iot::JsonParseStatus::kOk);
  CHECK(captured == "2.50");
  CHECK(root["id"] == 2.5);
  // Deeper than the reader's own recursion bound with a larger limit: nlohmann's parser takes over.
  CHECK(iot::ParseJson(Nested(300), root, {.max_depth = 1000}) == iot::JsonParseStatus::kOk);
  CHECK(iot::ParseJson(Nested(300), root, {.max_depth = 299}) == iot::JsonParseStatus::kTooDeep);
}

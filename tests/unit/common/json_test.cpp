#include "iot/common/json.hpp"

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

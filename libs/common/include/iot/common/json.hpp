#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

// One JSON parser for everything that comes from outside the process (REST bodies, WebSocket
// messages, device payloads, thing models): a DOM built through nlohmann's SAX interface with a
// nesting limit checked while parsing, so deep input is refused at the first level too many, without
// recursion and before anything recursive (copy, dump, schema checks) ever sees it.
namespace iot {

// Deepest container nesting accepted. A TSL value is at most object > struct > array > struct and an
// Alink envelope adds one level, so 64 is generous.
inline constexpr std::size_t kMaxJsonDepth = 64;

enum class JsonParseStatus { kOk, kMalformed, kTooDeep };

struct JsonParseOptions {
  std::size_t max_depth = kMaxJsonDepth;
  // When a top-level member named `capture_key` holds a number, its text is stored in `*captured`
  // (integers in canonical form, floats exactly as written), so ids like 17 or 1.5e3 can be echoed.
  std::string_view capture_key;
  std::string* captured = nullptr;
  // kMalformed: the 1-based byte where parsing failed and nlohmann's description.
  std::size_t* error_byte = nullptr;
  std::string* error_message = nullptr;
};

// Parses `text` into `root` in one pass. Never throws (bad_alloc gives kMalformed).
JsonParseStatus ParseJson(std::string_view text, nlohmann::json& root,
                          const JsonParseOptions& options = {}) noexcept;

// "JSON nested deeper than 64": the one wording of the limit in every answer.
std::string JsonTooDeepMessage(std::size_t max_depth = kMaxJsonDepth);

}  // namespace iot

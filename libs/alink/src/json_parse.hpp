#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>
#include <nlohmann/json_fwd.hpp>

// Private helpers shared by the envelope, NTP and status codecs.
namespace iot::alink::detail {

// iot::ParseJson (the platform's one depth-limited parser) with Alink's error codes: refuses nesting
// deeper than `max_depth` without recursion, so a 10,000-deep array costs nothing. When a top-level
// member named `capture_key` holds a number, its text is stored in `*captured`.
// Errors: kNotJson, kTooDeep. Never throws.
boost::system::error_code ParseJson(std::string_view text, std::size_t max_depth,
                                    nlohmann::json& root, std::string_view capture_key = {},
                                    std::string* captured = nullptr) noexcept;

// Appends `s` as a JSON string literal. Invalid UTF-8 is replaced by U+FFFD so the output is
// always valid JSON.
void AppendJsonString(std::string& out, std::string_view s);

// Appends `value` serialized compactly; never throws on invalid UTF-8 (replaces it).
void AppendJson(std::string& out, const nlohmann::json& value);

// Length of the valid UTF-8 sequence starting at s[i] (1-4), or 0 if it is invalid.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) noexcept;

bool IsValidUtf8(std::string_view s) noexcept;

}  // namespace iot::alink::detail

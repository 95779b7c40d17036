#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>
#include <nlohmann/json_fwd.hpp>

#include "iot/common/json_text.hpp"  // AppendJsonString
#include "iot/common/safe_text.hpp"  // IsValidUtf8

// Private helpers shared by the envelope, NTP and status codecs.
namespace iot::alink::detail {

// iot::ParseJson (the platform's one depth-limited parser) with Alink's error codes: refuses nesting
// deeper than `max_depth` without recursion, so a 10,000-deep array costs nothing. When a top-level
// member named `capture_key` holds a number, its text is stored in `*captured`.
// Errors: kNotJson, kTooDeep. Never throws.
boost::system::error_code ParseJson(std::string_view text, std::size_t max_depth, nlohmann::json& root,
                                    std::string_view capture_key = {},
                                    std::string* captured = nullptr) noexcept;

// Appends `value` serialized compactly; never throws on invalid UTF-8 (replaces it).
void AppendJson(std::string& out, const nlohmann::json& value);

}  // namespace iot::alink::detail

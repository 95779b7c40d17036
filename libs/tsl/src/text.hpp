#pragma once

// Small text helpers shared by the parser and the validator (private).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "iot/common/json_text.hpp"
#include "iot/common/safe_text.hpp"

namespace iot::tsl::detail {

using iot::IsValidUtf8;  // libs/common
using iot::JsonPointerEscape;
using iot::Utf8SequenceLength;
// Code points in valid UTF-8 text.
std::size_t Utf8Chars(std::string_view text);

// Appends at most `max_bytes` of `text`, cut at a character boundary, with "..." when cut; invalid
// bytes become '?', so the result is always valid UTF-8 however hostile the input.
void AppendSafe(std::string& out, std::string_view text, std::size_t max_bytes);

// "-?[0-9]+" without leading zeros (canonical integer text), within int64.
bool ParseCanonicalInt(std::string_view text, std::int64_t& out);
// Integer text as above, or a decimal number "-?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?", finite.
bool ParseDecimal(std::string_view text, double& out);
// "[0-9]{1,19}" within int64 (used for date strings and string times).
bool ParseDigits(std::string_view text, std::int64_t& out);

}  // namespace iot::tsl::detail

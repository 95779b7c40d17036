#pragma once

#include <string>
#include <string_view>

// JSON text written by hand (without nlohmann, so headers that need only these stay light).
namespace iot {

// Appends `text` as a JSON string literal: '"' and '\\' escaped, control characters as \b \f \n \r \t
// or \u00XX, valid UTF-8 as it is and every invalid byte as U+FFFD, so the output is always valid JSON.
void AppendJsonString(std::string& out, std::string_view text);

// One JSON Pointer reference token (RFC 6901): '~' as "~0", '/' as "~1".
std::string JsonPointerEscape(std::string_view token);

}  // namespace iot

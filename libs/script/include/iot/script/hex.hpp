#pragma once

// Raw payloads as text (rejections, script tests): lower-case hex, and back.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace iot::script {

// Hex of the first `max_bytes` bytes.
std::string ToHex(std::string_view bytes, std::size_t max_bytes = std::string_view::npos);
// Pairs of hex digits (either case); spaces, tabs, newlines, ':' and a leading 0x are ignored.
// nullopt on anything else or an odd number of digits.
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace iot::script

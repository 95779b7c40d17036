#pragma once

// Raw payloads as text (rejections, script tests): lower-case hex (iot::ToHex), and back.
#include <optional>
#include <string>
#include <string_view>

#include "iot/common/hex.hpp"

namespace iot::script {

using iot::ToHex;
// Pairs of hex digits (either case); spaces, tabs, newlines, ':' and a leading 0x are ignored.
// nullopt on anything else or an odd number of digits.
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace iot::script

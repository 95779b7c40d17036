#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// Hexadecimal, lower case: the one encoder and decoder (signatures, token hashes, payload previews,
// percent-decoding, script test bodies).
namespace iot {

// Two lower-case digits per byte of `bytes`, at most the first `max_bytes` of them.
std::string ToHex(std::string_view bytes, std::size_t max_bytes = std::string_view::npos);
// The same, appended to `out`.
void AppendHex(std::string& out, std::string_view bytes);
// 0-15 for 0-9, a-f, A-F; -1 for anything else.
int HexValue(char c) noexcept;
// Exactly two digits (either case) per byte and nothing else; nullopt otherwise.
std::optional<std::string> FromHex(std::string_view hex);

}  // namespace iot

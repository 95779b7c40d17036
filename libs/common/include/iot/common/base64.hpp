#pragma once

#include <optional>
#include <string>
#include <string_view>

// Standard base64 (RFC 4648 §4, alphabet A-Z a-z 0-9 + /, '=' padding): how the REST API carries
// message payloads that are not text (custom topics, broadcast, custom RRPC), as Alibaba's Pub and RRpc
// operations do.
namespace iot {

std::string Base64Encode(std::string_view bytes);
// Strict: only the alphabet, padding to a multiple of 4 (or none at all), no whitespace, and unused
// bits of the last character zero. nullopt for anything else.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace iot

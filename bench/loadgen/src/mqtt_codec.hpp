#pragma once

// What the load generator adds to the MQTT codec (libs/mqtt): reading reply fields without a JSON
// library. Pure: no I/O.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "iot/mqtt/codec.hpp"

namespace iot::loadgen {

// The packets themselves come from libs/mqtt; the generator speaks 3.1.1, as the Alibaba device SDKs do.
using mqtt::ConnackView;
using mqtt::Packet;
using mqtt::PacketType;
using mqtt::ParseStatus;
using mqtt::PublishView;
inline constexpr mqtt::Version kVersion = mqtt::Version::k311;

// Top-level members of a small JSON object, read without a JSON library: the value text of `key`
// ("id" -> digits without quotes, "code" -> 200). Strings and nested objects are skipped properly, so
// a key of the same name inside `data` is not mistaken for the top-level one. Empty when absent.
std::string_view TopLevelJsonValue(std::string_view json, std::string_view key);

// Parses decimal digits (no sign); false when empty, non-digit or overflowing 63 bits.
bool ParseUint(std::string_view text, std::uint64_t& value);

}  // namespace iot::loadgen

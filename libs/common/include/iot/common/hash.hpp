#pragma once

#include <cstdint>
#include <string_view>

namespace iot {

// 64-bit FNV-1a (offset basis 14695981039346656037, prime 1099511628211): the dedupe key's payload
// hash. Its values are stored (message_dedupe.payload_hash) and compared with the next copy of a
// message, so the definition must never change; tests/unit/common/hash_test.cpp pins it.
constexpr std::uint64_t Fnv1a64(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ULL;
  for (char ch : bytes) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace iot

#include "iot/common/hash.hpp"

#include <string>

#include <catch2/catch.hpp>

// The first three are the published FNV-1a 64 test vectors, the last two follow the reference
// definition: a change of the offset basis or the prime (the store once had a copy with a digit
// missing from the basis) fails here.
TEST_CASE("Fnv1a64 gives the FNV-1a 64-bit values of known inputs", "[common][hash]") {
  CHECK(iot::Fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(iot::Fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(iot::Fnv1a64("foobar") == 0x85944171f73967e8ULL);
  // Bytes above 0x7f are hashed as unsigned (char is signed here).
  CHECK(iot::Fnv1a64(std::string(1, '\xff')) == 0xaf64724c8602eb6eULL);
  CHECK(iot::Fnv1a64(std::string("\xff\x00\x80", 3)) == 0xf920891be415651eULL);  // NUL included
  static_assert(iot::Fnv1a64("") == 0xcbf29ce484222325ULL);
}

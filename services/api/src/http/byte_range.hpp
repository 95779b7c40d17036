#pragma once

#include <cstdint>
#include <string_view>

namespace iot::api {

// A single byte range of a Range header (RFC 9110 §14), resolved against a representation's size.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t length = 0;
};

enum class RangeKind {
  kWhole,          // no Range, or one this server ignores (another unit, several ranges, bad syntax)
  kPart,           // `out` is the range to send (206)
  kUnsatisfiable,  // the range starts past the end (416)
};

// bytes=first-last, bytes=first- and bytes=-suffix; `last` past the end is cut to the end.
RangeKind ParseRange(std::string_view header, std::uint64_t size, ByteRange& out);

}  // namespace iot::api

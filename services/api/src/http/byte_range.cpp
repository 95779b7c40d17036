#include "http/byte_range.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <system_error>

namespace iot::api {

namespace {

std::optional<std::uint64_t> Number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

// RFC 9110 §14: one range of bytes=first-last, first- or -suffix. Anything else (another unit, several
// ranges, bad syntax) is ignored: the whole package is sent, which every client can take.
RangeKind ParseRange(std::string_view header, std::uint64_t size, ByteRange& out) {
  constexpr std::string_view kUnit = "bytes=";
  if (header.substr(0, kUnit.size()) != kUnit || header.find(',') != std::string_view::npos) {
    return RangeKind::kWhole;
  }
  header.remove_prefix(kUnit.size());
  const auto dash = header.find('-');
  if (dash == std::string_view::npos) {
    return RangeKind::kWhole;
  }
  const std::string_view first_text = header.substr(0, dash);
  const std::string_view last_text = header.substr(dash + 1);
  if (first_text.empty()) {  // the last n bytes
    auto suffix = Number(last_text);
    if (!suffix) {
      return RangeKind::kWhole;
    }
    if (*suffix == 0 || size == 0) {
      return RangeKind::kUnsatisfiable;
    }
    out.length = std::min(*suffix, size);
    out.first = size - out.length;
    return RangeKind::kPart;
  }
  auto first = Number(first_text);
  auto last = last_text.empty() ? std::optional<std::uint64_t>(UINT64_MAX) : Number(last_text);
  if (!first || !last || *last < *first) {
    return RangeKind::kWhole;
  }
  if (*first >= size) {
    return RangeKind::kUnsatisfiable;
  }
  out.first = *first;
  out.length = std::min(*last, size - 1) - *first + 1;
  return RangeKind::kPart;
}

}  // namespace iot::api

#include "json_parse.hpp"

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/json.hpp"

namespace iot::alink::detail {
using Json = nlohmann::json;

boost::system::error_code ParseJson(std::string_view text, std::size_t max_depth, Json& root,
                                    std::string_view capture_key, std::string* captured) noexcept {
  JsonParseOptions options;
  options.max_depth = max_depth;
  options.capture_key = capture_key;
  options.captured = captured;
  switch (iot::ParseJson(text, root, options)) {
    case JsonParseStatus::kOk: return {};
    case JsonParseStatus::kTooDeep: return Errc::kTooDeep;
    case JsonParseStatus::kMalformed: break;
  }
  return Errc::kNotJson;
}

std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100U;
  };
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    const unsigned b = byte(k);
    return b >= lo && b <= hi;
  };
  const unsigned c = byte(0);
  if (c < 0x80) {
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = c == 0xF4 ? 0x8F : 0xBF;  // not above U+10FFFF
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

bool IsValidUtf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto n = Utf8SequenceLength(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const auto n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\f': out += 'f'; break;
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
        break;
    }
    ++i;
  }
  out += '"';
}

void AppendJson(std::string& out, const Json& value) {
  if (value.is_object() && value.empty()) {
    out += "{}";  // the common reply `data`; skip the serializer
    return;
  }
  out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace iot::alink::detail

#include "iot/common/safe_text.hpp"

#include <cstddef>

#include "iot/common/hex.hpp"

namespace iot {
namespace {

// A storable sequence: well-formed UTF-8 other than NUL (jsonb and text refuse U+0000).
std::size_t SequenceLength(std::string_view text, std::size_t i) {
  return text[i] == '\0' ? 0 : Utf8SequenceLength(text, i);
}

// True when `text` is a run of well-formed sequences (NUL one of them only when kNulAllowed).
template <bool kNulAllowed>
bool AllSequences(std::string_view text) noexcept {
  for (std::size_t i = 0; i < text.size();) {
    // ASCII runs dominate device payloads: skip them without the table lookup.
    if (const auto c = static_cast<unsigned char>(text[i]); (kNulAllowed || c != 0) && c < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = kNulAllowed ? Utf8SequenceLength(text, i) : SequenceLength(text, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

}  // namespace

std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = b(i);
  const std::size_t left = text.size() - i;
  if (c < 0x80) {
    return 1;
  }
  auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < text.size() && b(k) >= lo && b(k) <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) {
    return left >= 2 && cont(i + 1) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    return left >= 3 && cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;  // at most U+10FFFF
    return left >= 4 && cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

bool IsValidUtf8(std::string_view text) noexcept { return AllSequences<true>(text); }

bool IsStorableText(std::string_view text) { return AllSequences<false>(text); }

std::string StorableText(std::string_view text) {
  if (IsStorableText(text)) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = SequenceLength(text, i);
    if (n == 0) {
      out += "\\x";
      AppendHex(out, std::string_view(&text[i], 1));
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
  return out;
}

std::string StorableJson(std::string json_text) {
  constexpr std::string_view kNul = "\\u0000";
  if (json_text.find(kNul) == std::string::npos) {
    return json_text;
  }
  std::string out;
  out.reserve(json_text.size() + 8);
  // Outside strings JSON has no backslash; inside, every backslash starts a two-character escape (or
  // \uXXXX), so walking escape by escape never mistakes an escaped backslash for the start of \u0000.
  for (std::size_t i = 0; i < json_text.size(); ++i) {
    const char c = json_text[i];
    if (c != '\\' || i + 1 >= json_text.size()) {
      out.push_back(c);
      continue;
    }
    if (std::string_view(json_text).substr(i, kNul.size()) == kNul) {
      out += "\\\\u0000";
      i += kNul.size() - 1;
      continue;
    }
    out.push_back(c);
    out.push_back(json_text[++i]);
  }
  return out;
}

}  // namespace iot

#include "text.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>

namespace iot::tsl::detail {

std::size_t Utf8Chars(std::string_view text) {
  std::size_t chars = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0u) != 0x80u) {
      ++chars;
    }
  }
  return chars;
}

void AppendSafe(std::string& out, std::string_view text, std::size_t max_bytes) {
  std::size_t written = 0;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = Utf8SequenceLength(text, i);
    if (written + (n == 0 ? 1 : n) > max_bytes) {
      out += "...";
      return;
    }
    if (n == 0) {
      out += '?';
      n = 1;
    } else {
      out.append(text.substr(i, n));
    }
    written += n;
    i += n;
  }
}

bool ParseCanonicalInt(std::string_view text, std::int64_t& out) {
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') {
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits.size() > 19) {
    return false;
  }
  for (const char c : digits) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  if (digits.size() > 1 && digits.front() == '0') {
    return false;
  }
  if (text == "-0") {
    return false;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ParseDecimal(std::string_view text, double& out) {
  // Grammar check first: from_chars alone would accept "inf", "nan" and hex-like forms.
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      ++i;
    }
    return i > start;
  };
  if (text.empty() || text.size() > 64) {
    return false;
  }
  if (text[i] == '-') {
    ++i;
  }
  if (!digits()) {
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) {
      return false;
    }
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
      ++i;
    }
    if (!digits()) {
      return false;
    }
  }
  if (i != text.size()) {
    return false;
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && std::isfinite(out);
}

bool ParseDigits(std::string_view text, std::int64_t& out) {
  if (text.empty() || text.size() > 19) {
    return false;
  }
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace iot::tsl::detail

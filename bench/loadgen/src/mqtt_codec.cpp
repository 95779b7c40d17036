#include "mqtt_codec.hpp"

namespace iot::loadgen {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Skips one JSON string starting at s[i] == '"'; returns the index after the closing quote or npos.
std::size_t SkipString(std::string_view s, std::size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::string_view TopLevelJsonValue(std::string_view s, std::string_view key) {
  std::size_t i = 0;
  while (i < s.size() && IsSpace(s[i])) {
    ++i;
  }
  if (i >= s.size() || s[i] != '{') {
    return {};
  }
  ++i;
  // At depth 1 we alternate key, ':', value, ','. Nested values are skipped by bracket counting.
  while (i < s.size()) {
    while (i < s.size() && (IsSpace(s[i]) || s[i] == ',')) {
      ++i;
    }
    if (i >= s.size() || s[i] != '"') {
      return {};
    }
    const std::size_t key_end = SkipString(s, i);
    if (key_end == std::string_view::npos) {
      return {};
    }
    const std::string_view name = s.substr(i + 1, key_end - i - 2);
    i = key_end;
    while (i < s.size() && IsSpace(s[i])) {
      ++i;
    }
    if (i >= s.size() || s[i] != ':') {
      return {};
    }
    ++i;
    while (i < s.size() && IsSpace(s[i])) {
      ++i;
    }
    if (i >= s.size()) {
      return {};
    }
    const std::size_t value_start = i;
    if (s[i] == '"') {
      i = SkipString(s, i);
      if (i == std::string_view::npos) {
        return {};
      }
      if (name == key) {
        return s.substr(value_start + 1, i - value_start - 2);
      }
      continue;
    }
    int depth = 0;
    for (; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '"') {
        i = SkipString(s, i);
        if (i == std::string_view::npos) {
          return {};
        }
        --i;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (depth == 0) {
          break;  // end of the top-level object
        }
        --depth;
      } else if (c == ',' && depth == 0) {
        break;
      }
    }
    if (name == key) {
      std::string_view value = s.substr(value_start, i - value_start);
      while (!value.empty() && IsSpace(value.back())) {
        value.remove_suffix(1);
      }
      return value;
    }
    if (i < s.size() && s[i] == '}') {
      return {};
    }
  }
  return {};
}

bool ParseUint(std::string_view text, std::uint64_t& value) {
  if (text.empty() || text.size() > 18) {
    return false;
  }
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  value = v;
  return true;
}

}  // namespace iot::loadgen

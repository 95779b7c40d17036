#include "iot/common/log.hpp"

#include <cstdio>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "iot/common/clock.hpp"
#include "iot/common/hex.hpp"
#include "iot/common/json_text.hpp"
#include "iot/common/log_format.hpp"
#include "iot/common/safe_text.hpp"

namespace iot::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kLogfmt)};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

Level GetLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool ParseLevel(std::string_view text, Level& out) {
  if (text == "debug") {
    out = Level::kDebug;
    return true;
  }
  if (text == "info") {
    out = Level::kInfo;
    return true;
  }
  if (text == "warn") {
    out = Level::kWarn;
    return true;
  }
  if (text == "error") {
    out = Level::kError;
    return true;
  }
  return false;
}

std::string Quote(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2);
  out.push_back('"');
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

void SetFormat(Format format) { g_format.store(static_cast<int>(format), std::memory_order_relaxed); }

bool ParseFormat(std::string_view text, Format& out) {
  if (text == "logfmt") {
    out = Format::kLogfmt;
    return true;
  }
  if (text == "json") {
    out = Format::kJson;
    return true;
  }
  return false;
}

namespace {

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

bool IsNumber(std::string_view v) {
  std::size_t i = v.starts_with('-') ? 1 : 0;
  const std::size_t digits_from = i;
  while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
    ++i;
  }
  if (i == digits_from || (v[digits_from] == '0' && i - digits_from > 1)) {
    return false;
  }
  if (i < v.size() && v[i] == '.') {
    const std::size_t fraction_from = ++i;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') {
      ++i;
    }
    if (i == fraction_from) {
      return false;
    }
  }
  return i == v.size();
}

// Undoes Quote: `text` starts at the opening quote; `used` receives how many bytes the quoted value took.
// False when there is no closing quote.
bool Unquote(std::string_view text, std::string& value, std::size_t& used) {
  value.clear();
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      used = i + 1;
      return true;
    }
    if (c == '\\' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == 'x' && i + 3 < text.size() && HexValue(text[i + 2]) >= 0 && HexValue(text[i + 3]) >= 0) {
        value.push_back(static_cast<char>(HexValue(text[i + 2]) * 16 + HexValue(text[i + 3])));
        i += 3;
      } else {
        value.push_back(next);
        ++i;
      }
      continue;
    }
    value.push_back(c);
  }
  return false;
}

// A JSON string literal of arbitrary bytes: invalid UTF-8 is made safe first (\xNN as text).
void JsonString(std::string& out, std::string_view raw) { AppendJsonString(out, StorableText(raw)); }

// Splits a message into its free text and key=value fields (see FormatLine).
void SplitMessage(std::string_view message, std::string& text,
                  std::vector<std::pair<std::string, std::string>>& fields, std::vector<bool>& quoted) {
  std::size_t i = 0;
  while (i < message.size()) {
    while (i < message.size() && message[i] == ' ') {
      ++i;
    }
    if (i >= message.size()) {
      break;
    }
    std::size_t k = i;
    while (k < message.size() && IsKeyChar(message[k])) {
      ++k;
    }
    if (k > i && k < message.size() && message[k] == '=') {
      std::string key(message.substr(i, k - i));
      std::string value;
      std::size_t used = 0;
      const std::string_view rest = message.substr(k + 1);
      if (rest.starts_with('"') && Unquote(rest, value, used)) {
        fields.emplace_back(std::move(key), std::move(value));
        quoted.push_back(true);
        i = k + 1 + used;
        continue;
      }
      std::size_t end = message.find(' ', k + 1);
      if (end == std::string_view::npos) {
        end = message.size();
      }
      fields.emplace_back(std::move(key), std::string(message.substr(k + 1, end - k - 1)));
      quoted.push_back(false);
      i = end;
      continue;
    }
    // Free text: up to the next space.
    std::size_t end = message.find(' ', i);
    if (end == std::string_view::npos) {
      end = message.size();
    }
    if (!text.empty()) {
      text.push_back(' ');
    }
    text.append(message.substr(i, end - i));
    i = end;
  }
}

}  // namespace

std::string FormatLine(Format format, std::string_view ts, Level level, std::string_view component,
                       std::string_view message) {
  std::string line;
  line.reserve(64 + component.size() + message.size());
  if (format == Format::kLogfmt) {
    line += "ts=";
    line += ts;
    line += " level=";
    line += LevelName(level);
    line += " component=";
    line += component;
    line += ' ';
    line += message;
    return line;
  }
  std::string text;
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<bool> quoted;
  SplitMessage(message, text, fields, quoted);
  // Messages written as `msg="..." key=...` (no free text): that field is the message.
  if (text.empty() && !fields.empty() && fields.front().first == "msg") {
    text = std::move(fields.front().second);
    fields.erase(fields.begin());
    quoted.erase(quoted.begin());
  }
  line += "{\"ts\":";
  JsonString(line, ts);
  line += ",\"level\":";
  JsonString(line, LevelName(level));
  line += ",\"component\":";
  JsonString(line, component);
  line += ",\"msg\":";
  JsonString(line, text);
  for (std::size_t f = 0; f < fields.size(); ++f) {
    const auto& [key, value] = fields[f];
    // The fixed members keep their meaning: a field with the same name gets a suffix.
    const bool reserved = key == "ts" || key == "level" || key == "component" || key == "msg";
    line += ',';
    JsonString(line, reserved ? key + "_" : key);
    line += ':';
    if (!quoted[f] && IsNumber(value)) {
      line += value;
    } else {
      JsonString(line, value);
    }
  }
  line += '}';
  return line;
}

void Write(Level level, std::string_view component, std::string_view message) {
  const long long ms = NowMs();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[80];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
  std::string line = FormatLine(static_cast<Format>(g_format.load(std::memory_order_relaxed)), ts, level,
                                component, message);
  line += '\n';
  // One fwrite per line keeps lines whole when several threads log at once.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

bool RateLimiter::Allow(long long& suppressed) {
  const long long now = NowMs();
  long long next = next_ms_.load(std::memory_order_relaxed);
  if (now < next || !next_ms_.compare_exchange_strong(next, now + interval_ms_)) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  return true;
}

}  // namespace iot::log

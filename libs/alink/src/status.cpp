#include "iot/alink/status.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "json_parse.hpp"

namespace iot::alink {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kMsPerDay = 86'400'000;
// 0000-01-01 and 9999-12-31T23:59:59.999 in epoch ms: the range a 4-digit year can show.
constexpr std::int64_t kMinMs = -62'167'219'200'000;
constexpr std::int64_t kMaxMs = 253'402'300'799'999;

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, no time zone database).
std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void CivilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

std::string Format(std::int64_t ms, char date_time_separator, bool zulu) {
  ms = std::clamp(ms, kMinMs, kMaxMs);
  std::int64_t days = ms / kMsPerDay;
  std::int64_t rem = ms % kMsPerDay;
  if (rem < 0) {
    rem += kMsPerDay;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  CivilFromDays(days, y, m, d);
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02u%c%02d:%02d:%02d.%03d%s", static_cast<int>(y),
                              m, d, date_time_separator, static_cast<int>(rem / 3'600'000),
                              static_cast<int>(rem / 60'000 % 60), static_cast<int>(rem / 1000 % 60),
                              static_cast<int>(rem % 1000), zulu ? "Z" : "");
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

bool Digits(std::string_view s, std::size_t pos, std::size_t count, unsigned& out) {
  if (pos + count > s.size()) {
    return false;
  }
  out = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

boost::system::error_code RequiredString(const Json::object_t& obj, const char* key, std::string& out) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    return Errc::kMissingField;
  }
  const auto* s = it->second.get_ptr<const std::string*>();
  if (s == nullptr) {
    return Errc::kBadFieldType;
  }
  out = *s;
  return {};
}

const std::string* OptionalString(const Json::object_t& obj, const char* key) {
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : it->second.get_ptr<const std::string*>();
}

}  // namespace

std::string FormatLocalTime(std::int64_t epoch_ms, int utc_offset_minutes) {
  const std::int64_t shifted =
      std::clamp(epoch_ms, kMinMs, kMaxMs) + static_cast<std::int64_t>(utc_offset_minutes) * 60'000;
  return Format(shifted, ' ', false);
}

std::string FormatUtcTime(std::int64_t epoch_ms) { return Format(epoch_ms, 'T', true); }

Result<std::int64_t> ParseTimestamp(std::string_view s) {
  // yyyy-MM-dd?HH:mm:ss.SSS[Z]
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
  const bool shape = s.size() >= 23 && s[4] == '-' && s[7] == '-' && (s[10] == ' ' || s[10] == 'T') &&
                     s[13] == ':' && s[16] == ':' && s[19] == '.' &&
                     (s.size() == 23 || (s.size() == 24 && s[23] == 'Z'));
  if (!shape || !Digits(s, 0, 4, y) || !Digits(s, 5, 2, mo) || !Digits(s, 8, 2, d) || !Digits(s, 11, 2, h) ||
      !Digits(s, 14, 2, mi) || !Digits(s, 17, 2, sec) || !Digits(s, 20, 3, ms) || mo < 1 || mo > 12 ||
      d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59) {
    return Errc::kBadFieldType;
  }
  const std::int64_t days = DaysFromCivil(y, mo, d);
  return days * kMsPerDay + h * 3'600'000LL + mi * 60'000LL + sec * 1000LL + ms;
}

std::string EncodeStatus(const StatusMessage& m) {
  std::string out;
  out.reserve(256);
  const auto field = [&out](std::string_view key, std::string_view value) {
    out += out.empty() ? "{" : ",";
    AppendJsonString(out, key);
    out += ':';
    AppendJsonString(out, value);
  };
  field("status", m.status == DeviceStatus::kOnline ? "online" : "offline");
  if (!m.iot_id.empty()) {
    field("iotId", m.iot_id);
  }
  field("productKey", m.product_key);
  field("deviceName", m.device_name);
  field("time", FormatLocalTime(m.time_ms, m.utc_offset_minutes));
  field("utcTime", FormatUtcTime(m.time_ms));
  field("lastTime", FormatLocalTime(m.last_time_ms, m.utc_offset_minutes));
  field("utcLastTime", FormatUtcTime(m.last_time_ms));
  field("clientIp", m.client_ip);
  out += ",\"seq\":";
  out += std::to_string(m.seq);
  out += '}';
  return out;
}

Result<StatusMessage> DecodeStatus(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) {
    return Errc::kPayloadTooLarge;
  }
  Json root;
  if (auto ec = detail::ParseJson(payload, kMaxJsonDepth, root)) {
    return ec;
  }
  if (!root.is_object()) {
    return Errc::kNotObject;
  }
  const auto& obj = *root.get_ptr<const Json::object_t*>();
  StatusMessage m;
  std::string status;
  if (auto ec = RequiredString(obj, "status", status)) {
    return ec;
  }
  if (status == "online") {
    m.status = DeviceStatus::kOnline;
  } else if (status == "offline") {
    m.status = DeviceStatus::kOffline;
  } else {
    return Errc::kBadFieldType;
  }
  if (auto ec = RequiredString(obj, "productKey", m.product_key)) {
    return ec;
  }
  if (auto ec = RequiredString(obj, "deviceName", m.device_name)) {
    return ec;
  }
  std::string utc_last;
  if (auto ec = RequiredString(obj, "utcLastTime", utc_last)) {
    return ec;
  }
  auto last = ParseTimestamp(utc_last);
  if (!last) {
    return last.error();
  }
  m.last_time_ms = *last;
  m.time_ms = m.last_time_ms;
  if (const auto* utc_time = OptionalString(obj, "utcTime")) {
    auto t = ParseTimestamp(*utc_time);
    if (!t) {
      return t.error();
    }
    m.time_ms = *t;
  }
  if (const auto* local_last = OptionalString(obj, "lastTime")) {
    if (auto local = ParseTimestamp(*local_last)) {
      const std::int64_t diff = *local - m.last_time_ms;
      if (diff % 60'000 == 0 && diff / 60'000 >= -24 * 60 && diff / 60'000 <= 24 * 60) {
        m.utc_offset_minutes = static_cast<int>(diff / 60'000);
      }
    }
  }
  if (const auto* ip = OptionalString(obj, "clientIp")) {
    m.client_ip = *ip;
  }
  if (const auto* iot_id = OptionalString(obj, "iotId")) {
    m.iot_id = *iot_id;
  }
  if (const auto seq = obj.find("seq"); seq != obj.end()) {
    if (!seq->second.is_number_unsigned()) {
      return Errc::kBadFieldType;
    }
    m.seq = seq->second.get<std::uint64_t>();
  }
  return m;
}

}  // namespace iot::alink

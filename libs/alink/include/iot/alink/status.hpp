#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "iot/common/result.hpp"

// Device lifecycle message on /as/mqtt/status/{pk}/{dn} (reference §2.18, §6). The broker plugin
// encodes it on connect/disconnect; the gateway decodes it and keeps the state with the newest
// (last_time_ms, seq).
namespace iot::alink {

enum class DeviceStatus { kOnline, kOffline };

struct StatusMessage {
  DeviceStatus status = DeviceStatus::kOffline;
  std::string product_key;
  std::string device_name;
  std::int64_t time_ms = 0;       // when the message was produced: "time" / "utcTime"
  std::int64_t last_time_ms = 0;  // when the state changed: "lastTime" / "utcLastTime"
  std::string client_ip;          // "clientIp"; may be empty
  std::string iot_id;             // "iotId"; omitted when empty
  std::uint64_t seq = 0;          // ours: per-device counter from the broker plugin; 0 = unknown
  // Zone of the human-readable "time"/"lastTime" (Aliyun writes them in UTC+8, i.e. 480); the
  // utc* fields are always UTC ISO-8601 and are what decoding trusts.
  int utc_offset_minutes = 0;

  friend bool operator==(const StatusMessage&, const StatusMessage&) = default;
};

// {"status","iotId"?,"productKey","deviceName","time","utcTime","lastTime","utcLastTime",
//  "clientIp","seq"}. Times outside years 0000-9999 are clamped.
std::string EncodeStatus(const StatusMessage& message);

// Requires status ("online"/"offline"), productKey, deviceName and utcLastTime; utcTime defaults to
// utcLastTime; seq defaults to 0; utc_offset_minutes is recovered from lastTime when present.
// Errors: the envelope parse errors, kMissingField, kBadFieldType.
Result<StatusMessage> DecodeStatus(std::string_view payload);

// "yyyy-MM-dd HH:mm:ss.SSS" in the given zone, and "yyyy-MM-ddTHH:mm:ss.SSSZ" (UTC).
std::string FormatLocalTime(std::int64_t epoch_ms, int utc_offset_minutes);
std::string FormatUtcTime(std::int64_t epoch_ms);
// Parses either form back to epoch ms ("T"/"Z" optional; the local form is read as UTC).
Result<std::int64_t> ParseTimestamp(std::string_view text);

}  // namespace iot::alink

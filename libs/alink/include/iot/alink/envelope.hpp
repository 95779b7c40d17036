#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "iot/common/json.hpp"
#include "iot/common/result.hpp"

// Alink JSON envelopes (reference §2.1): device requests, replies in both directions, downlink
// requests. Decoders parse once and hand the parsed `params`/`data` over by move.
namespace iot::alink {

// Aliyun's MQTT publish limit. Larger payloads are refused before parsing with
// Errc::kPayloadTooLarge (Alink 460: "too many parameters"); we never look inside them.
inline constexpr std::size_t kMaxPayloadBytes = 256 * 1024;
// Deepest container nesting accepted (iot::kMaxJsonDepth, 64). Deeper input gives Errc::kTooDeep
// (Alink 460 "JSON nested deeper than 64") without recursion.
inline constexpr std::size_t kMaxJsonDepth = iot::kMaxJsonDepth;

// Owns a parsed JSON value while keeping <nlohmann/json.hpp> out of this header.
struct JsonDeleter {
  void operator()(nlohmann::json* value) const noexcept;
};
using JsonPtr = std::unique_ptr<nlohmann::json, JsonDeleter>;
JsonPtr MakeJson();  // a JSON null

// `{"id","version","sys":{"ack"},"params","method"}` as sent by a device (or by the cloud).
struct Request {
  // Opaque, echoed unchanged: a string id as decoded; a numeric id in its source text (integers
  // canonical, so `-0` becomes `0`). Never parsed as a number.
  std::string id;
  std::string version;  // any string; empty when absent
  std::string method;   // may be empty (Node SDK combine.login, OTA)
  bool ack = true;      // false only for `"sys":{"ack":0}` (or false): the sender wants no reply
  JsonPtr params;       // never null after decoding; JSON null when absent
};

// Errors: kPayloadTooLarge (460), kNotJson / kNotObject (6207), kTooDeep (460), kMissingField (460, no
// id), kBadFieldType (460: id not string/number, version or method not a string).
Result<Request> DecodeRequest(std::string_view payload);

// `{"id","code","data","message"}` as sent by a device answering a downlink request
// (thing/service/{id}_reply, property/set_reply, rrpc/response/{messageId}) or by the cloud.
struct Reply {
  std::string id;
  int code = 0;         // integer, or a string of digits (OTA pushes "1000")
  std::string message;  // empty when absent
  std::string method;   // empty when absent (E1 replies)
  JsonPtr data;         // never null after decoding; JSON null when absent
};

// Errors as DecodeRequest, plus kMissingField / kBadFieldType for `code`.
Result<Reply> DecodeReply(std::string_view payload);

// The message we send with a code: "success" for 200, short English text otherwise.
std::string_view DefaultMessage(int code) noexcept;

// `{"id","code","data":{},"message","method","version":"1.0"}`. The id is written back as a JSON
// string with exactly the characters received; the message is DefaultMessage(code).
std::string BuildReply(std::string_view id, int code, std::string_view method);
std::string BuildReply(std::string_view id, int code, std::string_view method, const nlohmann::json& data,
                       std::string_view message);

// Downlink request `{"id","version":"1.0","params","method"}`.
std::string BuildRequest(std::string_view id, std::string_view method, const nlohmann::json& params);

// NTP (reference §2.15): `{"deviceSendTime":"100"}` in, and out
// `{"deviceSendTime":"100","serverRecvTime":"1010","serverSendTime":"1015"}`, using the JSON type the
// device used (string or number) for all three.
struct NtpRequest {
  std::string device_send_time;  // text of the value, echoed unchanged
  bool as_string = true;         // the device sent a JSON string
};

// Errors: as DecodeRequest; kMissingField without deviceSendTime; kBadFieldType if it is neither a
// string nor a number.
Result<NtpRequest> DecodeNtpRequest(std::string_view payload);
std::string BuildNtpResponse(const NtpRequest& request, std::int64_t server_recv_ms,
                             std::int64_t server_send_ms);

}  // namespace iot::alink

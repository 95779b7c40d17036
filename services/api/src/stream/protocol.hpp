#pragma once

// The live stream's wire format (REST contract "Live stream"), independent of the transport.
// Client -> server: {"subscribe":{"productKey":pk,"deviceName"?:dn}} or {"unsubscribe":{...}}.
// Server -> client:
//   changes      {"type":"property"|"event"|"status"|"serviceCall"|"rejection"|"alarm","productKey",
//                 "deviceName","time","data":{...}}
//   answers      {"type":"subscribed"|"unsubscribed","productKey","deviceName"?}
//   errors       {"type":"error","error":{"code","message"},"request"?:{...the command...}}
//                code: badRequest, notFound, unavailable, tooManySubscriptions

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace iot::api::stream {

struct Command {
  enum class Kind { kSubscribe, kUnsubscribe };
  Kind kind = Kind::kSubscribe;
  std::string product_key;
  std::string device_name;  // "" = the whole product
};

struct ProtocolError {
  std::string message;
  // Nonzero: the message cannot be answered, close the connection with this code (1009: nested deeper
  // than iot::kMaxJsonDepth).
  std::uint16_t close_code = 0;
};

inline constexpr std::uint16_t kCloseTooBig = 1009;
// The stream's token was revoked or expired (4401: "401" in the private-use close code range).
inline constexpr std::uint16_t kCloseTokenInvalid = 4401;

inline constexpr std::size_t kMaxClientMessageBytes = 4096;

std::variant<Command, ProtocolError> ParseClientMessage(std::string_view text);

std::string ChangeMessage(std::string_view type, std::string_view product_key, std::string_view device_name,
                          std::int64_t time, std::string_view data_json);
std::string AnswerMessage(const Command& command);
// `about` may be null (the message could not be parsed into a command).
std::string ErrorMessage(std::string_view code, std::string_view message, const Command* about);

}  // namespace iot::api::stream

#pragma once

#include <optional>
#include <string>
#include <string_view>

// Topics operators address through the REST API (reference §2.2 and the Pub / PubBroadcast / RRpc
// operations): a device's custom topics /{pk}/{dn}/user/<suffix>, a product's broadcast topics
// /broadcast/{pk}/<suffix>, and the custom-RRPC form /ext/rrpc/{messageId}/<inner topic>.
namespace iot::alink {

// Limits on an operator-given suffix: Alibaba's custom topic classes allow letters, digits and '_' in
// at most 7 levels of a 128-byte topic; we also allow '-' and '.' (never a whole level of "." or "..").
inline constexpr std::size_t kMaxSuffixBytes = 128;
inline constexpr std::size_t kMaxSuffixLevels = 8;

// Why `suffix` ("a/b/c") cannot be a topic suffix, or nullopt when it can: empty, over the limits, an
// empty level ("a//b", leading or trailing '/'), a wildcard ('+', '#'), '$', a "."/".." level or any
// character outside [A-Za-z0-9_.-].
std::optional<std::string> SuffixProblem(std::string_view suffix);

// A REST `topic` for a device's custom topic: "user/<suffix>" or the full "/{pk}/{dn}/user/<suffix>" of
// that very device. Returns the full MQTT topic, or the problem (for a 400).
struct TopicOrProblem {
  std::string topic;
  std::string problem;  // non-empty: refused
};
TopicOrProblem DeviceUserTopic(std::string_view pk, std::string_view dn, std::string_view topic);
// "/broadcast/{pk}/<suffix>" from a suffix (a leading "/broadcast/{pk}/" is accepted too).
TopicOrProblem BroadcastTopic(std::string_view pk, std::string_view suffix);

// The custom RRPC request topic: "/ext/rrpc/{message_id}/{inner without its leading '/'}" (Alibaba's
// example: /ext/rrpc/1213074/a18wP/device1/user/get).
std::string ExtRrpcTopic(std::string_view message_id, std::string_view inner_topic);

// The broker plugin routes a device's answer on /ext/rrpc/{id}/<inner> to this internal topic, so the
// device never receives its own answer (its request subscription matches the answer's topic):
// "/iot/rrpc/reply/{pk}/{dn}/{id}/<inner without its leading '/'>". Only services read it.
inline constexpr std::string_view kRrpcReplyPrefix = "/iot/rrpc/reply/";
std::string RrpcReplyTopic(std::string_view pk, std::string_view dn, std::string_view ext_rrpc_topic);

// The MQTT 5 user property (key) iot-api puts on everything it publishes: the gateway, which also reads
// /{pk}/{dn}/user/#, keeps only what devices published there.
inline constexpr std::string_view kPlatformOrigin = "iot-origin";

// Message payloads in REST bodies: `encoding` "text" (the string's own UTF-8 bytes) or "base64"
// (standard base64 of any bytes). Empty `problem`: `bytes` holds the payload.
struct PayloadOrProblem {
  std::string bytes;
  std::string problem;
};
PayloadOrProblem DecodePayload(std::string_view encoding, std::string_view text);
// The other way, for answers: "text" when the bytes are valid UTF-8 without control characters other
// than tab, CR and LF, else "base64".
struct EncodedPayload {
  std::string encoding;
  std::string text;
};
EncodedPayload EncodePayload(std::string_view bytes);

// A parsed RrpcReplyTopic.
struct RrpcReply {
  std::string product_key;
  std::string device_name;
  std::string message_id;
  std::string inner;  // the inner topic as the device used it, without a leading '/'
};
std::optional<RrpcReply> ParseRrpcReplyTopic(std::string_view topic);

}  // namespace iot::alink

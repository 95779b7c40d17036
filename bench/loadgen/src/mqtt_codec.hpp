#pragma once

// The MQTT 3.1.1 packets a device-like load generator needs, encoded straight into a byte buffer, and a
// streaming parser that cuts whole packets out of whatever the socket delivered. Pure: no I/O, no
// allocation beyond appending to the caller's buffer.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iot::loadgen {

enum class PacketType : std::uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kSubscribe = 8,
  kSuback = 9,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// Encoders append one packet to `out`.
void EncodeConnect(std::string& out, std::string_view client_id, std::string_view username,
                   std::string_view password, std::uint16_t keepalive_s, bool clean_session);
void EncodeSubscribe(std::string& out, std::uint16_t packet_id, std::string_view filter, int qos);
// `packet_id` is ignored at QoS 0.
void EncodePublish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                   std::uint16_t packet_id, bool retain = false);
void EncodePuback(std::string& out, std::uint16_t packet_id);
void EncodePingreq(std::string& out);
void EncodeDisconnect(std::string& out);

// One packet as received: the first header byte and the variable header + payload.
struct Packet {
  std::uint8_t header = 0;
  std::string_view body;

  PacketType Type() const { return static_cast<PacketType>(header >> 4); }
};

struct PublishView {
  std::string_view topic;
  std::string_view payload;
  int qos = 0;
  std::uint16_t packet_id = 0;
};

// Decoders of the packets a client receives; false when the body is malformed.
bool DecodeConnack(std::string_view body, int& return_code);
bool DecodeAck(std::string_view body, std::uint16_t& packet_id);  // PUBACK (and SUBACK's id)
bool DecodeSuback(std::string_view body, std::uint16_t& packet_id, int& granted_qos);
bool DecodePublish(const Packet& packet, PublishView& out);

enum class ParseStatus { kPacket, kNeedMore, kMalformed };

// Cuts the next complete packet from the front of `data`. On kPacket sets `packet` (viewing `data`)
// and `consumed`; kNeedMore when the packet is incomplete (`needed` is its total size when known,
// else 0); kMalformed for a bad remaining length or one above `max_packet`.
ParseStatus NextPacket(std::string_view data, std::size_t max_packet, Packet& packet, std::size_t& consumed,
                       std::size_t& needed);

// Top-level members of a small JSON object, read without a JSON library: the value text of `key`
// ("id" -> digits without quotes, "code" -> 200). Strings and nested objects are skipped properly, so
// a key of the same name inside `data` is not mistaken for the top-level one. Empty when absent.
std::string_view TopLevelJsonValue(std::string_view json, std::string_view key);

// Parses decimal digits (no sign); false when empty, non-digit or overflowing 63 bits.
bool ParseUint(std::string_view text, std::uint64_t& value);

}  // namespace iot::loadgen

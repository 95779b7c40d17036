#pragma once

// The MQTT packets a client sends and receives, for protocol levels 3.1.1 and 5, encoded straight into
// a byte buffer, and a streaming parser that cuts whole packets out of whatever the socket delivered.
// Pure: no I/O, no allocation beyond appending to the caller's buffer. Decoders check every length
// against the packet and never read past it; a packet they refuse is "malformed" and the caller closes
// the connection (MQTT 5: reason 0x81).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iot::mqtt {

enum class Version : std::uint8_t { k311 = 4, k5 = 5 };

enum class PacketType : std::uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

// MQTT 5 property identifiers this code reads or writes (the others are skipped by their type).
enum class Property : std::uint8_t {
  kSubscriptionIdentifier = 0x0B,
  kSessionExpiryInterval = 0x11,
  kServerKeepAlive = 0x13,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
};

struct ConnectFields {
  Version version = Version::k5;
  std::string_view client_id;
  std::string_view username;  // empty = none
  std::string_view password;  // empty = none
  std::uint16_t keepalive_s = 30;
  bool clean_start = true;
  // MQTT 5 only: Session Expiry Interval (0 = the session ends with the connection) and Receive
  // Maximum (0 = not sent: 65,535).
  std::uint32_t session_expiry_s = 0;
  std::uint16_t receive_maximum = 0;
};

// Encoders append one packet to `out`.
void EncodeConnect(std::string& out, const ConnectFields& fields);
// One filter; MQTT 5 with a Subscription Identifier when `subscription_id` > 0.
void EncodeSubscribe(std::string& out, Version version, std::uint16_t packet_id, std::string_view filter,
                     int qos, std::uint32_t subscription_id = 0);
void EncodeUnsubscribe(std::string& out, Version version, std::uint16_t packet_id, std::string_view filter);
// `packet_id` is ignored at QoS 0. MQTT 5: no properties. Returns the offset of the packet id in `out`
// (0 at QoS 0), so a packet encoded before its id is known can be given one later (SetPacketId).
std::size_t EncodePublish(std::string& out, Version version, std::string_view topic, std::string_view payload,
                          int qos, std::uint16_t packet_id, bool retain = false);
void SetPacketId(std::string& out, std::size_t offset, std::uint16_t packet_id);
// PUBACK with success: the same 4 bytes in both versions (MQTT 5 omits reason 0 and properties).
void EncodePuback(std::string& out, std::uint16_t packet_id);
void EncodePingreq(std::string& out);
// MQTT 5: reason `reason` and, when `session_expiry_s` >= 0, a new Session Expiry Interval
// (0 ends the session with this disconnect). MQTT 3.1.1: both ignored.
void EncodeDisconnect(std::string& out, Version version, std::uint8_t reason = 0,
                      std::int64_t session_expiry_s = -1);

// One packet as received: the first header byte and the variable header + payload.
struct Packet {
  std::uint8_t header = 0;
  std::string_view body;

  PacketType Type() const { return static_cast<PacketType>(header >> 4); }
};

enum class ParseStatus { kPacket, kNeedMore, kMalformed };

// Cuts the next complete packet from the front of `data`. On kPacket sets `packet` (viewing `data`)
// and `consumed`; kNeedMore when the packet is incomplete (`needed` is its total size when known,
// else 0); kMalformed for a bad remaining length or one above `max_packet`.
ParseStatus NextPacket(std::string_view data, std::size_t max_packet, Packet& packet, std::size_t& consumed,
                       std::size_t& needed);

// The receive side of a connection: a read writes into Space() (after Prepare), Commit adds what it read,
// Next cuts whole packets in place (each valid until the next Prepare or Next). The buffer grows to hold
// a packet larger than itself and gives the memory back once it is empty again.
class PacketReader {
 public:
  PacketReader(std::size_t initial_size, std::size_t min_space, std::size_t max_packet);

  // Makes at least `min_space` bytes writable at Space().
  void Prepare();
  char* Space() { return buffer_.data() + end_; }
  std::size_t SpaceSize() const { return buffer_.size() - end_; }
  void Commit(std::size_t n) { end_ += n; }
  // kPacket: `packet` views the buffer; kNeedMore: read more; kMalformed: close the connection.
  ParseStatus Next(Packet& packet);
  void Reset() { begin_ = end_ = 0; }

 private:
  void Compact();

  std::string buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t initial_size_;
  std::size_t min_space_;
  std::size_t max_packet_;
};

// MQTT 5 properties, read one by one from a property block that a decoder has already checked.
struct PropertyValue {
  std::uint8_t id = 0;
  std::uint32_t number = 0;  // byte, two-byte, four-byte and variable byte integer properties
  std::string_view text;     // string and binary properties; a user property's name
  std::string_view value;    // a user property's value
};

// Reads the property at the front of `props` and advances past it; false at the end or when the
// block is malformed (unknown identifier, truncated value).
bool NextProperty(std::string_view& props, PropertyValue& out);

struct PublishView {
  std::string_view topic;
  std::string_view payload;
  std::string_view properties;  // MQTT 5: the checked property block (NextProperty); else empty
  int qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
};

struct ConnackView {
  bool session_present = false;
  int reason = 0;  // 3.1.1: the return code; 5: the reason code (0 = success)
  // MQTT 5 properties (the defaults when absent).
  std::uint16_t receive_maximum = 65535;
  std::uint32_t maximum_packet_size = 0;  // 0 = no limit
  int server_keepalive_s = -1;            // -1 = the client's keepalive stands
  std::string_view reason_string;
};

// Decoders of the packets a client receives; false when the body is malformed.
bool DecodeConnack(Version version, std::string_view body, ConnackView& out);
bool DecodeAck(std::string_view body, std::uint16_t& packet_id);  // PUBACK (MQTT 5: any reason)
// SUBACK and UNSUBACK of one filter: `reason` is the granted QoS or a failure code >= 0x80
// (3.1.1 UNSUBACK has none: 0).
bool DecodeSuback(Version version, std::string_view body, std::uint16_t& packet_id, int& reason);
bool DecodeUnsuback(Version version, std::string_view body, std::uint16_t& packet_id, int& reason);
bool DecodePublish(Version version, const Packet& packet, PublishView& out);
// MQTT 5 DISCONNECT from the server: its reason (0 when the body is empty) and reason string.
bool DecodeDisconnect(std::string_view body, int& reason, std::string_view& reason_string);

}  // namespace iot::mqtt

#include "iot/mqtt/codec.hpp"

#include <algorithm>
#include <cstring>

namespace iot::mqtt {
namespace {

void PutU16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void PutU32(std::string& out, std::uint32_t v) {
  PutU16(out, v >> 16);
  PutU16(out, v & 0xffff);
}

void PutString(std::string& out, std::string_view s) {
  PutU16(out, s.size());
  out.append(s);
}

void PutVarint(std::string& out, std::size_t v) {
  do {
    auto byte = static_cast<std::uint8_t>(v % 128);
    v /= 128;
    if (v > 0) {
      byte |= 0x80;
    }
    out.push_back(static_cast<char>(byte));
  } while (v > 0);
}

std::size_t VarintSize(std::size_t v) {
  std::size_t n = 1;
  while (v >= 128) {
    v /= 128;
    ++n;
  }
  return n;
}

void PutFixedHeader(std::string& out, std::uint8_t first, std::size_t remaining) {
  out.push_back(static_cast<char>(first));
  PutVarint(out, remaining);
}

std::uint16_t GetU16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[at]) << 8) |
                                    static_cast<std::uint8_t>(s[at + 1]));
}

std::uint32_t GetU32(std::string_view s, std::size_t at) {
  return (static_cast<std::uint32_t>(GetU16(s, at)) << 16) | GetU16(s, at + 2);
}

// A variable byte integer at s[at]: at most 4 bytes. Advances `at`; false when truncated or too long.
bool GetVarint(std::string_view s, std::size_t& at, std::uint32_t& value) {
  value = 0;
  std::uint32_t multiplier = 1;
  for (int i = 0; i < 4; ++i) {
    if (at >= s.size()) {
      return false;
    }
    const auto byte = static_cast<std::uint8_t>(s[at++]);
    value += static_cast<std::uint32_t>(byte & 0x7f) * multiplier;
    if ((byte & 0x80) == 0) {
      return true;
    }
    multiplier *= 128;
  }
  return false;
}

// A two-byte-length string or binary field at s[at]; advances `at`.
bool GetString(std::string_view s, std::size_t& at, std::string_view& out) {
  if (at + 2 > s.size()) {
    return false;
  }
  const std::size_t n = GetU16(s, at);
  if (at + 2 + n > s.size()) {
    return false;
  }
  out = s.substr(at + 2, n);
  at += 2 + n;
  return true;
}

enum class PropertyType { kByte, kU16, kU32, kVarint, kString, kPair, kUnknown };

PropertyType TypeOf(std::uint8_t id) {
  switch (id) {
    case 0x01:
    case 0x17:
    case 0x19:
    case 0x24:
    case 0x25:
    case 0x28:
    case 0x29:
    case 0x2A: return PropertyType::kByte;
    case 0x13:
    case 0x21:
    case 0x22:
    case 0x23: return PropertyType::kU16;
    case 0x02:
    case 0x11:
    case 0x18:
    case 0x27: return PropertyType::kU32;
    case 0x0B: return PropertyType::kVarint;
    case 0x03:
    case 0x08:
    case 0x09:
    case 0x12:
    case 0x15:
    case 0x16:
    case 0x1A:
    case 0x1C:
    case 0x1F: return PropertyType::kString;  // strings and binary data share the encoding
    case 0x26: return PropertyType::kPair;
    default: return PropertyType::kUnknown;
  }
}

// The property block at s[at] (its length, then the properties): every property checked. Advances
// `at` past it.
bool GetProperties(std::string_view s, std::size_t& at, std::string_view& props) {
  std::uint32_t length = 0;
  if (!GetVarint(s, at, length) || length > s.size() - at) {
    return false;
  }
  props = s.substr(at, length);
  at += length;
  std::string_view rest = props;
  PropertyValue p;
  while (!rest.empty()) {
    if (!NextProperty(rest, p)) {
      return false;
    }
  }
  return true;
}

}  // namespace

void EncodeConnect(std::string& out, const ConnectFields& f) {
  const bool v5 = f.version == Version::k5;
  std::string props;
  if (v5) {
    if (f.session_expiry_s > 0) {
      props.push_back(static_cast<char>(Property::kSessionExpiryInterval));
      PutU32(props, f.session_expiry_s);
    }
    if (f.receive_maximum > 0) {
      props.push_back(static_cast<char>(Property::kReceiveMaximum));
      PutU16(props, f.receive_maximum);
    }
  }
  const std::size_t remaining = 10 + (v5 ? VarintSize(props.size()) + props.size() : 0) + 2 +
                                f.client_id.size() + (f.username.empty() ? 0 : 2 + f.username.size()) +
                                (f.password.empty() ? 0 : 2 + f.password.size());
  PutFixedHeader(out, 0x10, remaining);
  PutString(out, "MQTT");
  out.push_back(static_cast<char>(f.version));
  std::uint8_t flags = f.clean_start ? 0x02 : 0x00;
  if (!f.username.empty()) {
    flags |= 0x80;
  }
  if (!f.password.empty()) {
    flags |= 0x40;
  }
  out.push_back(static_cast<char>(flags));
  PutU16(out, f.keepalive_s);
  if (v5) {
    PutVarint(out, props.size());
    out.append(props);
  }
  PutString(out, f.client_id);
  if (!f.username.empty()) {
    PutString(out, f.username);
  }
  if (!f.password.empty()) {
    PutString(out, f.password);
  }
}

void EncodeSubscribe(std::string& out, Version version, std::uint16_t packet_id, std::string_view filter,
                     int qos, std::uint32_t subscription_id) {
  std::size_t props = 0;
  if (version == Version::k5) {
    props = subscription_id > 0 ? 1 + VarintSize(subscription_id) : 0;
  }
  const std::size_t props_field = version == Version::k5 ? VarintSize(props) + props : 0;
  PutFixedHeader(out, 0x82, 2 + props_field + 2 + filter.size() + 1);
  PutU16(out, packet_id);
  if (version == Version::k5) {
    PutVarint(out, props);
    if (subscription_id > 0) {
      out.push_back(static_cast<char>(Property::kSubscriptionIdentifier));
      PutVarint(out, subscription_id);
    }
  }
  PutString(out, filter);
  out.push_back(static_cast<char>(qos));  // MQTT 5 options: QoS only (No Local, Retain As Published off)
}

void EncodeUnsubscribe(std::string& out, Version version, std::uint16_t packet_id, std::string_view filter) {
  const bool v5 = version == Version::k5;
  PutFixedHeader(out, 0xA2, 2 + (v5 ? 1 : 0) + 2 + filter.size());
  PutU16(out, packet_id);
  if (v5) {
    out.push_back(0);  // no properties
  }
  PutString(out, filter);
}

std::size_t EncodePublish(std::string& out, Version version, std::string_view topic, std::string_view payload,
                          int qos, std::uint16_t packet_id, bool retain) {
  const bool v5 = version == Version::k5;
  const std::size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.size();
  PutFixedHeader(out, static_cast<std::uint8_t>(0x30 | (qos << 1) | (retain ? 1 : 0)), remaining);
  PutString(out, topic);
  std::size_t id_offset = 0;
  if (qos > 0) {
    id_offset = out.size();
    PutU16(out, packet_id);
  }
  if (v5) {
    out.push_back(0);  // no properties
  }
  out.append(payload);
  return id_offset;
}

void SetPacketId(std::string& out, std::size_t offset, std::uint16_t packet_id) {
  out[offset] = static_cast<char>(packet_id >> 8);
  out[offset + 1] = static_cast<char>(packet_id & 0xff);
}

void EncodePuback(std::string& out, std::uint16_t packet_id) {
  out.push_back(0x40);
  out.push_back(2);
  PutU16(out, packet_id);
}

void EncodePingreq(std::string& out) {
  out.push_back(static_cast<char>(0xC0));
  out.push_back(0);
}

void EncodeDisconnect(std::string& out, Version version, std::uint8_t reason, std::int64_t session_expiry_s) {
  if (version != Version::k5 || (reason == 0 && session_expiry_s < 0)) {
    out.push_back(static_cast<char>(0xE0));
    out.push_back(0);
    return;
  }
  const bool expiry = session_expiry_s >= 0;
  PutFixedHeader(out, 0xE0, expiry ? 7 : 2);
  out.push_back(static_cast<char>(reason));
  if (!expiry) {
    out.push_back(0);
    return;
  }
  out.push_back(5);
  out.push_back(static_cast<char>(Property::kSessionExpiryInterval));
  PutU32(out, static_cast<std::uint32_t>(session_expiry_s));
}

ParseStatus NextPacket(std::string_view data, std::size_t max_packet, Packet& packet, std::size_t& consumed,
                       std::size_t& needed) {
  needed = 0;
  if (data.size() < 2) {
    return ParseStatus::kNeedMore;
  }
  std::size_t remaining = 0;
  std::size_t multiplier = 1;
  std::size_t at = 1;
  for (;;) {
    if (at >= data.size()) {
      return ParseStatus::kNeedMore;
    }
    if (at > 4) {
      return ParseStatus::kMalformed;  // more than 4 length bytes
    }
    const auto byte = static_cast<std::uint8_t>(data[at++]);
    remaining += static_cast<std::size_t>(byte & 0x7f) * multiplier;
    multiplier *= 128;
    if ((byte & 0x80) == 0) {
      break;
    }
  }
  const std::size_t total = at + remaining;
  if (total > max_packet) {
    return ParseStatus::kMalformed;
  }
  if (data.size() < total) {
    needed = total;
    return ParseStatus::kNeedMore;
  }
  packet.header = static_cast<std::uint8_t>(data[0]);
  packet.body = data.substr(at, remaining);
  consumed = total;
  return ParseStatus::kPacket;
}

PacketReader::PacketReader(std::size_t initial_size, std::size_t min_space, std::size_t max_packet)
    : buffer_(initial_size, '\0'),
      initial_size_(initial_size),
      min_space_(min_space),
      max_packet_(max_packet) {}

void PacketReader::Compact() {
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
}

void PacketReader::Prepare() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buffer_.size() > 4 * initial_size_) {  // after a large packet
      buffer_.resize(initial_size_);
      buffer_.shrink_to_fit();
    }
  }
  if (SpaceSize() < min_space_) {
    Compact();
    if (SpaceSize() < min_space_) {
      buffer_.resize(std::max(buffer_.size() * 2, end_ + min_space_));
    }
  }
}

ParseStatus PacketReader::Next(Packet& packet) {
  std::size_t consumed = 0;
  std::size_t needed = 0;
  const ParseStatus status = NextPacket(std::string_view(buffer_.data() + begin_, end_ - begin_), max_packet_,
                                        packet, consumed, needed);
  if (status == ParseStatus::kPacket) {
    begin_ += consumed;
  } else if (status == ParseStatus::kNeedMore && needed > buffer_.size() - begin_) {
    Compact();  // a packet bigger than the buffer: make room for all of it
    buffer_.resize(needed + min_space_);
  }
  return status;
}

bool NextProperty(std::string_view& props, PropertyValue& out) {
  if (props.empty()) {
    return false;
  }
  out = PropertyValue{};
  out.id = static_cast<std::uint8_t>(props[0]);
  std::size_t at = 1;
  switch (TypeOf(out.id)) {
    case PropertyType::kByte:
      if (at + 1 > props.size()) {
        return false;
      }
      out.number = static_cast<std::uint8_t>(props[at]);
      at += 1;
      break;
    case PropertyType::kU16:
      if (at + 2 > props.size()) {
        return false;
      }
      out.number = GetU16(props, at);
      at += 2;
      break;
    case PropertyType::kU32:
      if (at + 4 > props.size()) {
        return false;
      }
      out.number = GetU32(props, at);
      at += 4;
      break;
    case PropertyType::kVarint:
      if (!GetVarint(props, at, out.number)) {
        return false;
      }
      break;
    case PropertyType::kString:
      if (!GetString(props, at, out.text)) {
        return false;
      }
      break;
    case PropertyType::kPair:
      if (!GetString(props, at, out.text) || !GetString(props, at, out.value)) {
        return false;
      }
      break;
    case PropertyType::kUnknown: return false;
  }
  props.remove_prefix(at);
  return true;
}

bool DecodeConnack(Version version, std::string_view body, ConnackView& out) {
  out = ConnackView{};
  if (body.size() < 2 || (static_cast<std::uint8_t>(body[0]) & 0xfe) != 0) {
    return false;
  }
  out.session_present = (body[0] & 0x01) != 0;
  out.reason = static_cast<std::uint8_t>(body[1]);
  if (version != Version::k5) {
    return body.size() == 2;
  }
  std::size_t at = 2;
  std::string_view props;
  if (!GetProperties(body, at, props) || at != body.size()) {
    return false;
  }
  PropertyValue p;
  while (NextProperty(props, p)) {
    switch (static_cast<Property>(p.id)) {
      case Property::kReceiveMaximum:
        if (p.number == 0) {
          return false;  // a protocol error by the spec
        }
        out.receive_maximum = static_cast<std::uint16_t>(p.number);
        break;
      case Property::kMaximumPacketSize: out.maximum_packet_size = p.number; break;
      case Property::kServerKeepAlive: out.server_keepalive_s = static_cast<int>(p.number); break;
      case Property::kReasonString: out.reason_string = p.text; break;
      default: break;
    }
  }
  return true;
}

bool DecodeAck(std::string_view body, std::uint16_t& packet_id) {
  if (body.size() < 2) {
    return false;
  }
  packet_id = GetU16(body, 0);
  return true;
}

namespace {

// SUBACK and UNSUBACK: packet id, MQTT 5 properties, then one reason per filter (3.1.1 UNSUBACK: none).
bool DecodeSubOrUnsubAck(Version version, std::string_view body, bool reasons_in_311,
                         std::uint16_t& packet_id, int& reason) {
  if (body.size() < 2) {
    return false;
  }
  packet_id = GetU16(body, 0);
  std::size_t at = 2;
  if (version == Version::k5) {
    std::string_view props;
    if (!GetProperties(body, at, props)) {
      return false;
    }
  } else if (!reasons_in_311) {
    reason = 0;
    return body.size() == 2;
  }
  if (at >= body.size()) {
    return false;
  }
  reason = static_cast<std::uint8_t>(body[at]);
  return true;
}

}  // namespace

bool DecodeSuback(Version version, std::string_view body, std::uint16_t& packet_id, int& reason) {
  return DecodeSubOrUnsubAck(version, body, true, packet_id, reason);
}

bool DecodeUnsuback(Version version, std::string_view body, std::uint16_t& packet_id, int& reason) {
  return DecodeSubOrUnsubAck(version, body, false, packet_id, reason);
}

bool DecodePublish(Version version, const Packet& packet, PublishView& out) {
  const std::string_view body = packet.body;
  std::size_t at = 0;
  if (!GetString(body, at, out.topic)) {
    return false;
  }
  out.qos = (packet.header >> 1) & 0x03;
  if (out.qos == 3) {
    return false;
  }
  out.retain = (packet.header & 0x01) != 0;
  out.dup = (packet.header & 0x08) != 0;
  out.packet_id = 0;
  if (out.qos > 0) {
    if (at + 2 > body.size()) {
      return false;
    }
    out.packet_id = GetU16(body, at);
    if (out.packet_id == 0) {
      return false;
    }
    at += 2;
  }
  out.properties = {};
  if (version == Version::k5 && !GetProperties(body, at, out.properties)) {
    return false;
  }
  out.payload = body.substr(at);
  return true;
}

bool DecodeDisconnect(std::string_view body, int& reason, std::string_view& reason_string) {
  reason = 0;
  reason_string = {};
  if (body.empty()) {
    return true;
  }
  reason = static_cast<std::uint8_t>(body[0]);
  if (body.size() == 1) {
    return true;
  }
  std::size_t at = 1;
  std::string_view props;
  if (!GetProperties(body, at, props) || at != body.size()) {
    return false;
  }
  PropertyValue p;
  while (NextProperty(props, p)) {
    if (p.id == static_cast<std::uint8_t>(Property::kReasonString)) {
      reason_string = p.text;
    }
  }
  return true;
}

}  // namespace iot::mqtt

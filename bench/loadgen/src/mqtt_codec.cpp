#include "mqtt_codec.hpp"

namespace iot::loadgen {
namespace {

void PutU16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

void PutString(std::string& out, std::string_view s) {
  PutU16(out, s.size());
  out.append(s);
}

void PutFixedHeader(std::string& out, std::uint8_t first, std::size_t remaining) {
  out.push_back(static_cast<char>(first));
  do {
    auto byte = static_cast<std::uint8_t>(remaining % 128);
    remaining /= 128;
    if (remaining > 0) {
      byte |= 0x80;
    }
    out.push_back(static_cast<char>(byte));
  } while (remaining > 0);
}

std::uint16_t GetU16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(s[at]) << 8) |
                                    static_cast<std::uint8_t>(s[at + 1]));
}

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

void EncodeConnect(std::string& out, std::string_view client_id, std::string_view username,
                   std::string_view password, std::uint16_t keepalive_s, bool clean_session) {
  const std::size_t remaining = 10 + 2 + client_id.size() + (username.empty() ? 0 : 2 + username.size()) +
                                (password.empty() ? 0 : 2 + password.size());
  PutFixedHeader(out, 0x10, remaining);
  PutString(out, "MQTT");
  out.push_back(4);  // protocol level 3.1.1
  std::uint8_t flags = clean_session ? 0x02 : 0x00;
  if (!username.empty()) {
    flags |= 0x80;
  }
  if (!password.empty()) {
    flags |= 0x40;
  }
  out.push_back(static_cast<char>(flags));
  PutU16(out, keepalive_s);
  PutString(out, client_id);
  if (!username.empty()) {
    PutString(out, username);
  }
  if (!password.empty()) {
    PutString(out, password);
  }
}

void EncodeSubscribe(std::string& out, std::uint16_t packet_id, std::string_view filter, int qos) {
  PutFixedHeader(out, 0x82, 2 + 2 + filter.size() + 1);
  PutU16(out, packet_id);
  PutString(out, filter);
  out.push_back(static_cast<char>(qos));
}

void EncodePublish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                   std::uint16_t packet_id, bool retain) {
  const std::size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  PutFixedHeader(out, static_cast<std::uint8_t>(0x30 | (qos << 1) | (retain ? 1 : 0)), remaining);
  PutString(out, topic);
  if (qos > 0) {
    PutU16(out, packet_id);
  }
  out.append(payload);
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

void EncodeDisconnect(std::string& out) {
  out.push_back(static_cast<char>(0xE0));
  out.push_back(0);
}

bool DecodeConnack(std::string_view body, int& return_code) {
  if (body.size() != 2) {
    return false;
  }
  return_code = static_cast<std::uint8_t>(body[1]);
  return true;
}

bool DecodeAck(std::string_view body, std::uint16_t& packet_id) {
  if (body.size() < 2) {
    return false;
  }
  packet_id = GetU16(body, 0);
  return true;
}

bool DecodeSuback(std::string_view body, std::uint16_t& packet_id, int& granted_qos) {
  if (body.size() < 3) {
    return false;
  }
  packet_id = GetU16(body, 0);
  granted_qos = static_cast<std::uint8_t>(body[2]);
  return true;
}

bool DecodePublish(const Packet& packet, PublishView& out) {
  const std::string_view body = packet.body;
  if (body.size() < 2) {
    return false;
  }
  const std::size_t topic_len = GetU16(body, 0);
  std::size_t at = 2 + topic_len;
  if (at > body.size()) {
    return false;
  }
  out.topic = body.substr(2, topic_len);
  out.qos = (packet.header >> 1) & 0x03;
  if (out.qos == 3) {
    return false;
  }
  out.packet_id = 0;
  if (out.qos > 0) {
    if (at + 2 > body.size()) {
      return false;
    }
    out.packet_id = GetU16(body, at);
    at += 2;
  }
  out.payload = body.substr(at);
  return true;
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

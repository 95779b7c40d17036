// The MQTT codec (libs/mqtt): packets byte for byte against the specifications' layouts (MQTT 3.1.1
// and 5), the streaming parser at every split, and malformed input refused without reading past it.

#include "iot/mqtt/codec.hpp"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace {

using namespace iot::mqtt;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) {
    out.push_back(static_cast<char>(b));
  }
  return out;
}

Packet Parse(const std::string& wire) {
  Packet packet;
  std::size_t consumed = 0;
  std::size_t needed = 0;
  REQUIRE(NextPacket(wire, 1 << 20, packet, consumed, needed) == ParseStatus::kPacket);
  REQUIRE(consumed == wire.size());
  return packet;
}

}  // namespace

TEST_CASE("MQTT codec: CONNECT in 3.1.1 and 5 with the session properties", "[mqtt]") {
  ConnectFields f;
  f.version = Version::k311;
  f.client_id = "c";
  f.keepalive_s = 60;
  std::string out;
  EncodeConnect(out, f);
  CHECK(out == Bytes({0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'c'}));

  f.version = Version::k5;
  f.clean_start = false;
  f.username = "u";
  f.password = "p";
  f.session_expiry_s = 86400;
  f.receive_maximum = 100;
  out.clear();
  EncodeConnect(out, f);
  CHECK(out == Bytes({0x10, 28,   0,    4,    'M', 'Q', 'T', 'T', 5,   0xC0, 0, 60,  8, 0x11, 0,
                      1,    0x51, 0x80, 0x21, 0,   100, 0,   1,   'c', 0,    1, 'u', 0, 1,    'p'}));
  const Packet p = Parse(out);
  CHECK(p.Type() == PacketType::kConnect);
}

TEST_CASE("MQTT codec: SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBACK, PINGREQ, DISCONNECT", "[mqtt]") {
  std::string out;
  EncodeSubscribe(out, Version::k5, 7, "a/+", 1, 300);
  CHECK(out == Bytes({0x82, 12, 0, 7, 3, 0x0B, 0xAC, 0x02, 0, 3, 'a', '/', '+', 1}));
  out.clear();
  EncodeSubscribe(out, Version::k5, 7, "a", 0);
  CHECK(out == Bytes({0x82, 7, 0, 7, 0, 0, 1, 'a', 0}));
  out.clear();
  EncodeSubscribe(out, Version::k311, 7, "a", 1);
  CHECK(out == Bytes({0x82, 6, 0, 7, 0, 1, 'a', 1}));
  out.clear();
  EncodeUnsubscribe(out, Version::k5, 9, "a");
  CHECK(out == Bytes({0xA2, 6, 0, 9, 0, 0, 1, 'a'}));

  out.clear();
  const std::size_t at = EncodePublish(out, Version::k5, "t", "hi", 1, 0);
  CHECK(at == 5);
  SetPacketId(out, at, 0x1234);
  CHECK(out == Bytes({0x32, 8, 0, 1, 't', 0x12, 0x34, 0, 'h', 'i'}));
  out.clear();
  CHECK(EncodePublish(out, Version::k311, "t", "hi", 0, 0, true) == 0);
  CHECK(out == Bytes({0x31, 5, 0, 1, 't', 'h', 'i'}));

  out.clear();
  EncodePuback(out, 258);
  EncodePingreq(out);
  EncodeDisconnect(out, Version::k5);
  EncodeDisconnect(out, Version::k5, 0, 0);
  EncodeDisconnect(out, Version::k311, 0x04, 0);  // 3.1.1 has neither
  CHECK(out == Bytes({0x40, 2, 1, 2, 0xC0, 0, 0xE0, 0, 0xE0, 7, 0, 5, 0x11, 0, 0, 0, 0, 0xE0, 0}));
}

TEST_CASE("MQTT codec: a 5 PUBLISH with properties is read, and its properties one by one", "[mqtt]") {
  // Topic "s/1", id 5, properties: subscription id 2, user property origin=api, payload "{}".
  const std::string body = Bytes({0,   3,   's', '/', '1', 0, 5, 18,  0x0B, 2,   0x26, 0, 6,   'o',
                                  'r', 'i', 'g', 'i', 'n', 0, 3, 'a', 'p',  'i', 0x01, 1, '{', '}'});
  std::string wire = Bytes({0x3B, static_cast<int>(body.size())}) + body;  // QoS 1, DUP, retain
  const Packet packet = Parse(wire);
  PublishView view;
  REQUIRE(DecodePublish(Version::k5, packet, view));
  CHECK(view.topic == "s/1");
  CHECK(view.qos == 1);
  CHECK(view.dup);
  CHECK(view.retain);
  CHECK(view.packet_id == 5);
  CHECK(view.payload == "{}");
  std::string_view props = view.properties;
  PropertyValue p;
  REQUIRE(NextProperty(props, p));
  CHECK(p.id == 0x0B);
  CHECK(p.number == 2);
  REQUIRE(NextProperty(props, p));
  CHECK(p.id == 0x26);
  CHECK(p.text == "origin");
  CHECK(p.value == "api");
  REQUIRE(NextProperty(props, p));
  CHECK(p.id == 0x01);
  CHECK(p.number == 1);
  CHECK_FALSE(NextProperty(props, p));

  // The same bytes read as 3.1.1: the properties are payload.
  REQUIRE(DecodePublish(Version::k311, packet, view));
  CHECK(view.properties.empty());
  CHECK(view.payload.size() == 21);
}

TEST_CASE("MQTT codec: CONNACK, SUBACK, UNSUBACK and DISCONNECT of both versions", "[mqtt]") {
  ConnackView c;
  REQUIRE(DecodeConnack(Version::k311, Bytes({1, 0}), c));
  CHECK(c.session_present);
  CHECK(c.reason == 0);
  CHECK_FALSE(DecodeConnack(Version::k311, Bytes({1, 0, 0}), c));
  CHECK_FALSE(DecodeConnack(Version::k311, Bytes({2, 0}), c));  // reserved flag bits
  REQUIRE(
      DecodeConnack(Version::k5, Bytes({0, 0x87, 11, 0x21, 0, 20, 0x13, 0, 30, 0x1F, 0, 2, 'n', 'o'}), c));
  CHECK_FALSE(c.session_present);
  CHECK(c.reason == 0x87);
  CHECK(c.receive_maximum == 20);
  CHECK(c.server_keepalive_s == 30);
  CHECK(c.reason_string == "no");
  REQUIRE(DecodeConnack(Version::k5, Bytes({0, 0, 0}), c));
  CHECK(c.receive_maximum == 65535);
  CHECK(c.server_keepalive_s == -1);
  CHECK_FALSE(DecodeConnack(Version::k5, Bytes({0, 0, 3, 0x21, 0, 0}), c));  // Receive Maximum 0
  CHECK_FALSE(DecodeConnack(Version::k5, Bytes({0, 0}), c));                 // no property length

  std::uint16_t id = 0;
  int reason = -1;
  REQUIRE(DecodeSuback(Version::k5, Bytes({0, 9, 0, 1}), id, reason));
  CHECK(id == 9);
  CHECK(reason == 1);
  REQUIRE(DecodeSuback(Version::k311, Bytes({0, 9, 0x80}), id, reason));
  CHECK(reason == 0x80);
  REQUIRE(DecodeUnsuback(Version::k5, Bytes({0, 4, 0, 0x11}), id, reason));
  CHECK(id == 4);
  CHECK(reason == 0x11);
  REQUIRE(DecodeUnsuback(Version::k311, Bytes({0, 4}), id, reason));
  CHECK(reason == 0);
  CHECK_FALSE(DecodeSuback(Version::k5, Bytes({0, 9, 0}), id, reason));  // no reason code

  std::string_view text;
  REQUIRE(DecodeDisconnect("", reason, text));
  CHECK(reason == 0);
  REQUIRE(DecodeDisconnect(Bytes({0x8E}), reason, text));
  CHECK(reason == 0x8E);
  REQUIRE(DecodeDisconnect(Bytes({0x8E, 5, 0x1F, 0, 2, 't', 'o'}), reason, text));
  CHECK(text == "to");
  CHECK_FALSE(DecodeDisconnect(Bytes({0x8E, 5, 0x1F, 0, 9, 't', 'o'}), reason, text));
}

TEST_CASE("MQTT codec: packets split at every byte boundary are reassembled", "[mqtt]") {
  std::string stream;
  EncodePublish(stream, Version::k5, "/sys/pk/dn/thing/event/property/post_reply", std::string(300, 'x'), 1,
                7);
  EncodePuback(stream, 9);
  EncodePublish(stream, Version::k311, "t", std::string(20000, 'y'), 0, 0);
  for (std::size_t split = 0; split <= stream.size(); split += (split < 400 ? 1 : 997)) {
    std::string buffer = stream.substr(0, split);
    std::size_t fed = split;
    std::vector<PacketType> got;
    for (;;) {
      Packet packet;
      std::size_t consumed = 0;
      std::size_t needed = 0;
      const ParseStatus st = NextPacket(buffer, 1 << 20, packet, consumed, needed);
      REQUIRE(st != ParseStatus::kMalformed);
      if (st == ParseStatus::kNeedMore) {
        if (fed == stream.size()) {
          break;
        }
        CHECK((needed == 0 || needed > buffer.size()));
        buffer += stream.substr(fed);
        fed = stream.size();
        continue;
      }
      got.push_back(packet.Type());
      buffer.erase(0, consumed);
    }
    REQUIRE(got == std::vector<PacketType>{PacketType::kPublish, PacketType::kPuback, PacketType::kPublish});
    CHECK(buffer.empty());
  }
}

TEST_CASE("MQTT codec: malformed and hostile input is refused, never read past", "[mqtt]") {
  Packet packet;
  std::size_t consumed = 0;
  std::size_t needed = 0;
  // Five length bytes; a length above the limit.
  CHECK(NextPacket(Bytes({0x30, 0xff, 0xff, 0xff, 0xff, 0x7f}), 1 << 20, packet, consumed, needed) ==
        ParseStatus::kMalformed);
  CHECK(NextPacket(Bytes({0x30, 0xff, 0xff, 0x7f}), 1 << 20, packet, consumed, needed) ==
        ParseStatus::kMalformed);

  PublishView view;
  auto publish = [&](const std::string& body, int header = 0x32) {
    Packet p;
    p.header = static_cast<std::uint8_t>(header);
    p.body = body;
    return DecodePublish(Version::k5, p, view);
  };
  CHECK_FALSE(publish(Bytes({0, 9, 'a'})));                       // topic longer than the packet
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0})));                    // no room for the packet id
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0, 0, 0})));              // packet id 0
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0, 1, 5, 0x0B})));        // property block longer than the packet
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0, 1, 2, 0x7F, 0})));     // unknown property
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0, 1, 2, 0x0B, 0x80})));  // truncated variable byte integer
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0, 1, 5, 0x0B, 0x80, 0x80, 0x80, 0x80})));  // 5-byte integer
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0, 1, 4, 0x26, 0, 1, 'k'})));  // user property without value
  CHECK_FALSE(publish(Bytes({0, 1, 'a', 0}), 0x36));                   // QoS 3
  CHECK(publish(Bytes({0, 1, 'a', 0, 1, 0})));                         // empty payload is fine
  CHECK(view.payload.empty());

  // Every truncation of a valid packet body is refused or read within its bounds.
  const std::string body = Bytes({0,   3,   's', '/', '1', 0, 5, 18,  0x0B, 2,   0x26, 0, 6,   'o',
                                  'r', 'i', 'g', 'i', 'n', 0, 3, 'a', 'p',  'i', 0x01, 1, '{', '}'});
  for (std::size_t n = 0; n < body.size(); ++n) {
    const std::string cut = body.substr(0, n);
    if (publish(cut)) {
      CHECK(view.payload.data() + view.payload.size() <= cut.data() + cut.size());
    }
  }
}

TEST_CASE("MQTT codec: PacketReader grows for a packet larger than itself and shrinks back when empty",
          "[mqtt]") {
  std::string stream;
  EncodePuback(stream, 1);
  EncodePublish(stream, Version::k5, "big", std::string(300000, 'b'), 1, 2);
  EncodePuback(stream, 3);
  PacketReader reader(1024, 256, 1 << 20);
  std::vector<std::size_t> sizes;
  std::size_t fed = 0;
  while (fed < stream.size()) {
    reader.Prepare();
    REQUIRE(reader.SpaceSize() >= 256);
    const std::size_t n = std::min<std::size_t>({reader.SpaceSize(), stream.size() - fed, 700});
    std::memcpy(reader.Space(), stream.data() + fed, n);
    reader.Commit(n);
    fed += n;
    Packet packet;
    ParseStatus status;
    while ((status = reader.Next(packet)) == ParseStatus::kPacket) {
      sizes.push_back(packet.body.size());
    }
    REQUIRE(status == ParseStatus::kNeedMore);
  }
  CHECK(sizes == std::vector<std::size_t>{2, 2 + 3 + 2 + 1 + 300000, 2});
  reader.Prepare();  // empty again: back to its first size
  CHECK(reader.SpaceSize() == 1024);

  PacketReader limited(1024, 256, 100);
  limited.Prepare();
  const std::string too_big = Bytes({0x30, 0xC8, 0x01});  // 200 bytes announced, above 100
  std::memcpy(limited.Space(), too_big.data(), too_big.size());
  limited.Commit(too_big.size());
  Packet packet;
  CHECK(limited.Next(packet) == ParseStatus::kMalformed);
}

// The MQTT codec (libs/mqtt) on arbitrary bytes from a broker: cut packets from the stream, decode each
// as both versions, read every property. Nothing may crash, read out of bounds or loop.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "iot/mqtt/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace iot::mqtt;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (;;) {
    Packet packet;
    std::size_t consumed = 0;
    std::size_t needed = 0;
    if (NextPacket(rest, 1 << 20, packet, consumed, needed) != ParseStatus::kPacket) {
      break;
    }
    rest.remove_prefix(consumed);
    for (Version v : {Version::k311, Version::k5}) {
      PublishView publish;
      if (DecodePublish(v, packet, publish)) {
        std::string_view props = publish.properties;
        PropertyValue p;
        while (NextProperty(props, p)) {
        }
      }
      ConnackView connack;
      (void)DecodeConnack(v, packet.body, connack);
      std::uint16_t id = 0;
      int reason = 0;
      (void)DecodeSuback(v, packet.body, id, reason);
      (void)DecodeUnsuback(v, packet.body, id, reason);
      (void)DecodeAck(packet.body, id);
    }
    int reason = 0;
    std::string_view text;
    (void)DecodeDisconnect(packet.body, reason, text);
  }
  return 0;
}

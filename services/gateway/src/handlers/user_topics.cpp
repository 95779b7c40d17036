// Custom topics: what a device publishes on /{pk}/{dn}/user/... is stored as it came (bytes, at most
// store::kMaxMessagePayloadBytes), by the writer thread like every other side effect. No reply: custom
// topics have none. Nothing is parsed, so a flood costs one insert per message, and the per-device rate
// limit (Admit) bounds it like any other uplink.
#include "handlers/families.hpp"
#include "iot/store/device_messages.hpp"

namespace iot::gateway::handler_detail {

HandleStatus HandleUserMessage(const InboundMessage& in, const DeviceEntry& device, Metrics& metrics,
                               Work& out) {
  if (in.payload.size() > store::kMaxMessagePayloadBytes) {
    metrics.ignored.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;  // the broker's own limit is the same; a larger one is refused there
  }
  UserMessageOp op;
  op.device_id = device.device_id;
  op.topic = in.topic;
  op.payload = in.payload;
  op.received_ms = in.received_ms;
  out.op = std::move(op);
  return HandleStatus::kWork;
}

}  // namespace iot::gateway::handler_detail

#include <cstdint>
#include <utility>

#include "handler.hpp"
#include "iot/alink/status.hpp"
#include "iot/common/log.hpp"
#include "iot/common/safe_text.hpp"

// Lifecycle: the broker plugin's online/offline messages (/as/mqtt/status/{pk}/{dn}), applied by the
// writer in order; the plugin's sequence number decides a device's state.
namespace iot::gateway {

HandleStatus Handler::HandleLifecycle(const InboundMessage& in, Work& out) {
  metrics_.messages_in.Add(out.kind);
  auto status = alink::DecodeStatus(in.payload);
  if (!status) {
    IOT_LOG_LIMITED(noise_, log::Level::kWarn, kLog,
                    "msg=\"bad lifecycle message\" topic=" << log::Quote(in.topic));
    return HandleStatus::kIgnore;
  }
  auto device = directory_.FindDevice(status->product_key, status->device_name);
  if (!device) {
    return Unavailable(device.error()) ? HandleStatus::kRetry
                                       : HandleStatus::kIgnore;  // ignored: deleted meanwhile
  }
  LifecycleOp op;
  op.event.device_id = device->device_id;
  op.event.online = status->status == alink::DeviceStatus::kOnline;
  op.event.time = status->last_time_ms;
  op.event.sequence = status->seq != 0 ? static_cast<std::int64_t>(status->seq) : status->last_time_ms;
  op.event.ip_address = StorableText(status->client_ip);
  out.op = std::move(op);
  return HandleStatus::kWork;
}

}  // namespace iot::gateway

#include <utility>

#include "handlers/context.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/log.hpp"
#include "iot/common/safe_text.hpp"

// Device replies: the device's answer to a downlink (service call, property set) completes the
// service-call record it refers to. Replies are not answered.
namespace iot::gateway {

using handler_detail::MakeValidator;
using nlohmann::json;

HandleStatus Handler::HandleDeviceReply(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out) {
  const alink::Topic& topic = c.topic();
  auto reply = alink::DecodeReply(in.payload);
  if (!reply) {
    metrics_.requests_refused.Add(std::to_string(alink::AlinkCode(reply.error())));
    IOT_LOG_LIMITED(noise_, log::Level::kWarn, kLog,
                    "msg=\"undecodable device reply\" topic=" << log::Quote(in.topic));
    return HandleStatus::kIgnore;
  }
  if (topic.kind == alink::TopicKind::kConfigPush) {
    return ConsumeConfigPushReply(*reply);
  }
  c.id = reply->id;
  c.ack = false;  // replies are not answered
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) {
    return Unavailable(device.error()) ? HandleStatus::kRetry : HandleStatus::kIgnore;
  }
  c.device_id = device->device_id;
  return CompleteCall(c, topic, *reply, now_ms, out);
}

HandleStatus Handler::CompleteCall(Context& c, const alink::Topic& topic, const alink::Reply& reply,
                                   TimeMs now_ms, Work& out) {
  ServiceReplyOp op;
  op.device_id = c.device_id;
  op.alink_id = StorableText(reply.id);
  op.code = reply.code;
  op.message = StorableText(reply.message);
  op.succeeded = reply.code == codes::kSuccess;
  op.output_json = reply.data->is_null() ? "{}" : StorableJson(reply.data->dump());
  op.replied_at = now_ms;
  if (topic.kind == alink::TopicKind::kServiceCall && reply.code == codes::kSuccess) {
    auto product = directory_.FindProduct(topic.product_key);
    if (!product) {
      if (Unavailable(product.error())) {
        return HandleStatus::kRetry;
      }
    } else if ((*product)->mode != tsl::Mode::kNone) {
      const json& data = reply.data->is_null() ? json::object() : *reply.data;
      tsl::Report report = MakeValidator(**product).ServiceOutput(topic.identifier, data, now_ms);
      json ignored = json::object();
      if (!report.request_ok()) {
        c.Refuse(tsl::Refusal{topic.identifier, report.code, report.message}, nullptr, ignored);
        op.succeeded = false;
        op.code = report.code;
        op.message = StorableText(report.message);
      } else if (!report.refused.empty()) {
        for (const auto& r : report.refused) {
          c.Refuse(r, &data, ignored);
        }
        op.succeeded = false;
        op.code = report.refused.front().code;
        op.message = StorableText("outputData: " + report.refused.front().message);
      }
    }
  }
  if (out.telemetry) {
    out.telemetry->message_id.clear();  // replies carry the call's id: no dedupe
  }
  out.op = std::move(op);
  return HandleStatus::kWork;
}

}  // namespace iot::gateway

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "handlers/context.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/hash.hpp"
#include "iot/common/log.hpp"
#include "reply.hpp"

// Raw products: the device's bytes converted by the product's script, then handled like their Alink
// form (a request by its family's handler, a reply like a device reply).
namespace iot::gateway {

using handler_detail::HexPreview;
using handler_detail::LookupFailed;
using nlohmann::json;

// thing/model/up_raw: the product's rawDataToProtocol turns the bytes into an Alink request, which is
// then handled exactly like one posted on the topic its method names (validation, storage, reply);
// the reply goes back through protocolToRawData on up_raw_reply. Failures before a usable request
// exists (unknown device, no or failing script, no method) are answered in Alink JSON: the script
// cannot be trusted to encode them.
HandleStatus Handler::HandleRawUp(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out) {
  const alink::Topic& topic = c.topic();
  c.rejected_payload = HexPreview(in.payload);
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) {
    return LookupFailed(c, device.error(), codes::kDeviceNotFound, "device not found");
  }
  c.device_id = device->device_id;
  c.iot_id = device->iot_id;
  if (!Admit(c, *device, topic, now_ms)) {
    return HandleStatus::kWork;
  }
  auto product = directory_.FindProduct(topic.product_key);
  if (!product) {
    return LookupFailed(c, product.error(), codes::kProductNotFound, "product not found");
  }
  const ProductEntry& p = **product;
  if (!p.raw) {
    metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
    c.Fail(codes::kMethodMismatch, "method not supported: the product's data format is alink, not raw");
    return HandleStatus::kWork;
  }
  auto converted = scripts_.ToProtocol(p, in.payload, now_ms);
  metrics_.script_calls.fetch_add(1, std::memory_order_relaxed);
  if (!converted) {
    c.Fail(converted.error().code, "rawDataToProtocol: " + converted.error().Text());
    return HandleStatus::kWork;
  }
  if (auto missing = script::RequireMethod(*converted)) {
    c.Fail(missing->code, missing->message);
    return HandleStatus::kWork;
  }
  const std::string& method = (*converted)["method"].get_ref<const std::string&>();
  // Alink topics spell the method with '/' (thing.event.{id}.post -> thing/event/{id}/post).
  std::string path = "/sys/" + topic.product_key + "/" + topic.device_name + "/" + method;
  std::replace(path.begin() + static_cast<std::ptrdiff_t>(path.size() - method.size()), path.end(), '.', '/');
  auto inner_topic = alink::ParseTopic(path);
  if (!inner_topic || !alink::IsDevicePublished(*inner_topic) || inner_topic->reply) {
    metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
    c.Fail(codes::kMethodMismatch, "method not supported: " + method.substr(0, 128));
    return HandleStatus::kWork;
  }
  InboundMessage alink_message{in.topic, converted->dump(), in.received_ms};
  auto req = alink::DecodeRequest(alink_message.payload);
  if (!req) {
    c.Fail(alink::AlinkCode(req.error()), "rawDataToProtocol: " + req.error().message());
    return HandleStatus::kWork;
  }
  Context inner(alink_message, *inner_topic, now_ms, metrics_, out);
  inner.id = req->id;
  inner.method = req->method;
  inner.ack = req->ack;
  inner.device_id = c.device_id;
  inner.iot_id = c.iot_id;
  inner.reply_to = alink::FormatTopic(*alink::ReplyTopicFor(topic));
  inner.payload_hash = Fnv1a64(in.payload);
  inner.rejected_payload = c.rejected_payload;
  out.kind = std::string(alink::TopicKindName(inner_topic->kind)) + "_raw";
  const HandleStatus status = Dispatch(inner, *inner_topic, *req, out);
  if (status != HandleStatus::kWork || !out.reply) {
    return status;
  }
  Reply& r = *out.reply;
  r.encoder = scripts_.Encoder(p);
  if (std::holds_alternative<DesiredGetOp>(out.op)) {
    return status;  // values added by the writer
  }
  const json reply = json::parse(replies::AlinkText(r));
  auto bytes = scripts_.ToRaw(p, reply, now_ms);
  metrics_.script_calls.fetch_add(1, std::memory_order_relaxed);
  if (bytes) {
    r.raw = std::move(*bytes);
  } else {
    // The Alink JSON reply goes out instead (the device still gets an answer); counted and logged.
    r.encoder.reset();
    metrics_.requests_refused.Add(std::to_string(bytes.error().code));
    IOT_LOG_LIMITED(noise_, log::Level::kWarn, kLog,
                    "msg=\"protocolToRawData failed\" product=" << log::Quote(topic.product_key)
                                                                << " code=" << bytes.error().code << " error="
                                                                << log::Quote(bytes.error().Text()));
  }
  return status;
}

// thing/model/down_raw_reply: the device's answer to a raw downlink, converted by rawDataToProtocol
// and recorded like an Alink reply (matched by id; the method, when the script names one, tells a
// service call's output apart so it can be validated). A failing script is stored as a rejection.
HandleStatus Handler::HandleRawDownReply(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out) {
  const alink::Topic& topic = c.topic();
  c.ack = false;
  c.rejected_payload = HexPreview(in.payload);
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) {
    return Unavailable(device.error()) ? HandleStatus::kRetry : HandleStatus::kIgnore;
  }
  c.device_id = device->device_id;
  auto product = directory_.FindProduct(topic.product_key);
  if (!product) {
    return Unavailable(product.error()) ? HandleStatus::kRetry : HandleStatus::kIgnore;
  }
  if (!(*product)->raw) {
    metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  auto converted = scripts_.ToProtocol(**product, in.payload, now_ms);
  metrics_.script_calls.fetch_add(1, std::memory_order_relaxed);
  if (!converted) {
    c.Fail(converted.error().code, "rawDataToProtocol: " + converted.error().Text());
    if (out.telemetry) {
      out.telemetry->message_id.clear();
    }
    return HandleStatus::kWork;
  }
  auto reply = alink::DecodeReply(converted->dump());
  if (!reply) {
    c.Fail(alink::AlinkCode(reply.error()), "rawDataToProtocol: not a reply: " + reply.error().message());
    if (out.telemetry) {
      out.telemetry->message_id.clear();
    }
    return HandleStatus::kWork;
  }
  c.id = reply->id;
  alink::Topic call_topic = topic;
  call_topic.reply = true;
  call_topic.kind = alink::TopicKind::kPropertySet;
  constexpr std::string_view kServicePrefix = "thing.service.";
  if (reply->method.rfind(kServicePrefix, 0) == 0 && reply->method != "thing.service.property.set") {
    call_topic.kind = alink::TopicKind::kServiceCall;
    call_topic.identifier = reply->method.substr(kServicePrefix.size());
  }
  return CompleteCall(c, call_topic, *reply, now_ms, out);
}

}  // namespace iot::gateway

#include "iot/alink/shadow.hpp"

#include <string>
#include <utility>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "reply.hpp"

// The device shadow (/shadow/update/{pk}/{dn}): not an Alink envelope. The request is parsed here
// (bounded by the shadow's own limits), applied by the writer (StoreBackend, ShadowOp) and answered
// on /shadow/get/{pk}/{dn} with the shadow's JSON, errors included: never silence.
namespace iot::gateway {
namespace handler_detail {

void AnswerShadowError(Context& c, int code, std::string message, Work& out) {
  c.metrics().requests_refused.Add(std::to_string(code));
  c.metrics().replies.Add(std::to_string(code));
  out.reply = replies::ForShadow(c.topic(), code,
                                 alink::shadow::ErrorText({code, std::move(message)}, c.now() / 1000));
}

void HandleShadowRequest(Context& c, std::string_view payload, Work& out) {
  namespace shadow = alink::shadow;
  ShadowOp op;
  op.device_id = c.device_id;
  op.now_s = c.now() / 1000;
  if (auto refused = shadow::ParseRequest(payload, op.request)) {
    return AnswerShadowError(c, refused->code, std::move(refused->message), out);
  }
  // Planned as a server error: the writer replaces it with the outcome once the store answered.
  out.reply = replies::ForShadow(c.topic(), shadow::kServerError,
                                 shadow::ErrorText({shadow::kServerError, "storage failed"}, op.now_s));
  out.op = std::move(op);
}

}  // namespace handler_detail

HandleStatus Handler::HandleShadow(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out) {
  const alink::Topic& topic = c.topic();
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) {
    if (Unavailable(device.error())) {
      return HandleStatus::kRetry;
    }
    handler_detail::AnswerShadowError(c, alink::shadow::kServerError, "device not found", out);
    return HandleStatus::kWork;
  }
  c.device_id = device->device_id;
  if (!device->enabled) {
    handler_detail::AnswerShadowError(c, alink::shadow::kServerError, "device disabled", out);
    return HandleStatus::kWork;
  }
  if (!shadow_limiter_.Allow(topic.product_key + "/" + topic.device_name, now_ms)) {
    metrics_.rate_limited.fetch_add(1, std::memory_order_relaxed);
    handler_detail::AnswerShadowError(c, alink::shadow::kTooManyRequests,
                                      "too many requests: over 20 shadow requests per second", out);
    return HandleStatus::kWork;
  }
  handler_detail::HandleShadowRequest(c, in.payload, out);
  return HandleStatus::kWork;
}

}  // namespace iot::gateway

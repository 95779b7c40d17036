#include "handler.hpp"

#include <string>
#include <utility>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/alink/ota.hpp"
#include "iot/alink/shadow.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/codes.hpp"

namespace iot::gateway {

using handler_detail::LookupFailed;
using nlohmann::json;

Handler::Handler(Directory& directory, Metrics& metrics, HandlerSettings settings)
    : directory_(directory),
      metrics_(metrics),
      settings_(settings),
      limiter_(settings.rate_per_second),
      shadow_limiter_(alink::shadow::kRequestsPerSecond),
      scripts_(settings.script_limits, settings.script_budget_ms) {}

namespace {

// Device-published kinds that have no answer in the protocol (reference §2.2) and nothing to store:
// counted as unanswered (OTA inform and progress have no answer either, but are handled as requests).
bool IsReplyless(alink::TopicKind kind) {
  switch (kind) {
    case alink::TopicKind::kLogPost:
    case alink::TopicKind::kOtaRequest: return true;
    default: return false;
  }
}

}  // namespace

HandleStatus Handler::Handle(const InboundMessage& in, TimeMs now_ms, Work& out) {
  bool device_published = false;
  if (settings_.forward_rules != nullptr && !settings_.forward_rules->Loaded()) {
    return HandleStatus::kRetry;  // the forwarding rules are not known yet (PostgreSQL away at start)
  }
  if (settings_.alarm_rules != nullptr && !settings_.alarm_rules->Loaded()) {
    return HandleStatus::kRetry;  // likewise the alarm rules
  }
  const HandleStatus status = HandleMessage(in, now_ms, out, device_published);
  // Alarms: the product's rules ride with what is stored; the writer evaluates them in its transaction.
  if (status == HandleStatus::kWork && out.telemetry && settings_.alarm_rules != nullptr &&
      settings_.alarm_rules->Any()) {
    // Live data only (a history post is backfill); a pack post's parts by their own devices' products.
    auto topic = alink::ParseTopic(in.topic);
    if (topic &&
        (topic->kind == alink::TopicKind::kPropertyPost ||
         topic->kind == alink::TopicKind::kPropertyBatchPost || topic->kind == alink::TopicKind::kEventPost ||
         topic->kind == alink::TopicKind::kModelUpRaw ||
         topic->kind == alink::TopicKind::kPropertyPackPost)) {
      out.telemetry->alarms = settings_.alarm_rules->For(topic->product_key);
      for (std::size_t i = 0; i < out.parts.size() && i < out.part_devices.size(); ++i) {
        out.parts[i].alarms = settings_.alarm_rules->For(out.part_devices[i].first);
      }
    }
  }
  // Forwarding: the rules that match what is stored get outbox rows in its transaction.
  if (status == HandleStatus::kWork && settings_.forward_rules != nullptr && settings_.forward_rules->Any() &&
      (out.telemetry || std::holds_alternative<LifecycleOp>(out.op) ||
       std::holds_alternative<ServiceReplyOp>(out.op) || std::holds_alternative<UserMessageOp>(out.op))) {
    if (auto topic = alink::ParseTopic(in.topic)) {
      Route(*settings_.forward_rules->Get(), *topic, in.payload, out);
    }
  }
  // No silence: what a device published and got no answer for is counted, by kind (device replies,
  // reply-less kinds, sys.ack 0, undecodable NTP requests).
  if (device_published && status != HandleStatus::kRetry && !out.reply) {
    metrics_.unanswered.Add(out.kind);
  }
  return status;
}

HandleStatus Handler::HandleMessage(const InboundMessage& in, TimeMs now_ms, Work& out,
                                    bool& device_published) {
  out = Work{};
  auto parsed = alink::ParseTopic(in.topic);
  if (!parsed) {
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);
    IOT_LOG_LIMITED(noise_, log::Level::kWarn, kLog,
                    "msg=\"unparsable topic\" topic=" << log::Quote(in.topic));
    return HandleStatus::kIgnore;
  }
  const alink::Topic& topic = *parsed;
  if (in.custom_topic_filter_only && topic.kind != alink::TopicKind::kUserTopic) {
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);  // the other filter's copy is handled
    return HandleStatus::kIgnore;
  }
  out.kind = std::string(alink::TopicKindName(topic.kind));
  if (topic.kind == alink::TopicKind::kMqttStatus) {
    return HandleLifecycle(in, out);
  }
  if (topic.kind == alink::TopicKind::kUserTopic) {
    return HandleUserTopic(in, topic, now_ms, out);
  }
  if (!alink::IsDevicePublished(topic)) {  // downlinks seen through thing/service/+, our replies
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  metrics_.messages_in.Add(out.kind);
  device_published = true;
  if (topic.kind == alink::TopicKind::kNtpRequest) {
    return HandleNtp(in, topic, now_ms, out);
  }
  Context c(in, topic, now_ms, metrics_, out);
  if (topic.kind == alink::TopicKind::kShadowUpdate) {
    return HandleShadow(c, in, now_ms, out);
  }
  if (IsReplyless(topic.kind)) {
    return HandleStatus::kIgnore;  // nothing to answer or store: counted (Handle)
  }
  if (topic.kind == alink::TopicKind::kModelUpRaw && !topic.reply) {
    return HandleRawUp(c, in, now_ms, out);
  }
  if (topic.kind == alink::TopicKind::kModelDownRaw && topic.reply) {
    return HandleRawDownReply(c, in, now_ms, out);
  }
  if (topic.reply) {
    return HandleDeviceReply(c, in, now_ms, out);
  }
  return HandleRequest(c, in, now_ms, out);
}

HandleStatus Handler::HandleUserTopic(const InboundMessage& in, const alink::Topic& topic, TimeMs now_ms,
                                      Work& out) {
  if (in.from_platform) {  // iot-api's downlink on the device's custom topic
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  metrics_.messages_in.Add(out.kind);
  Context c(in, topic, now_ms, metrics_, out);
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) {
    return LookupFailed(c, device.error(), codes::kDeviceNotFound, "device not found");
  }
  if (!device->enabled) {
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  if (!limiter_.Allow(topic.product_key + "/" + topic.device_name, now_ms)) {
    metrics_.rate_limited.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  return handler_detail::HandleUserMessage(in, *device, metrics_, out);
}

HandleStatus Handler::HandleRequest(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out) {
  const alink::Topic& topic = c.topic();
  auto req = alink::DecodeRequest(in.payload);
  if (req) {
    c.id = req->id;
    c.method = req->method;
    c.ack = req->ack;
  }
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) {
    // thing.ota.firmware.get has its own code for an unknown device (9112).
    const int code = topic.kind == alink::TopicKind::kOtaFirmwareGet ? alink::kOtaDeviceNotFoundCode
                                                                     : codes::kDeviceNotFound;
    return LookupFailed(c, device.error(), code, "device not found");
  }
  c.device_id = device->device_id;
  c.iot_id = device->iot_id;
  if (!req) {
    c.Fail(alink::AlinkCode(req.error()), req.error().message());
    return HandleStatus::kWork;
  }
  if (!Admit(c, *device, topic, now_ms)) {
    return HandleStatus::kWork;
  }
  return Dispatch(c, topic, *req, out);
}

bool Handler::Admit(Context& c, const DeviceEntry& device, const alink::Topic& topic, TimeMs now_ms) {
  if (!device.enabled) {
    c.Fail(codes::kDeviceDisabled, "device disabled");
    return false;
  }
  if (!limiter_.Allow(topic.product_key + "/" + topic.device_name, now_ms)) {
    metrics_.rate_limited.fetch_add(1, std::memory_order_relaxed);
    c.Answer(codes::kTooManyRequests, json::object(), "too many requests: over the per-device limit");
    return false;  // not stored: the limit protects the database too
  }
  return true;
}

HandleStatus Handler::Dispatch(Context& c, const alink::Topic& topic, const alink::Request& req, Work& out) {
  if (auto check = alink::CheckMethod(topic, req.method); !check) {
    if (topic.kind == alink::TopicKind::kSysUnknown) {
      metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
      c.Fail(codes::kNotImplemented, "method not supported");
    } else {
      c.Fail(codes::kMethodMismatch, "method does not match the topic");
    }
    return HandleStatus::kWork;
  }
  const json& params = *req.params;

  switch (topic.kind) {
    case alink::TopicKind::kPropertyPost:
    case alink::TopicKind::kEventPost:
    case alink::TopicKind::kPropertyHistoryPost:
    case alink::TopicKind::kPropertyBatchPost:
    case alink::TopicKind::kDesiredGet:
    case alink::TopicKind::kDesiredDelete:
    case alink::TopicKind::kDslTemplateGet: {
      auto product = directory_.FindProduct(topic.product_key);
      if (!product) {
        return LookupFailed(c, product.error(), codes::kProductNotFound, "product not found");
      }
      const ProductEntry& p = **product;
      switch (topic.kind) {
        case alink::TopicKind::kPropertyPost: HandlePropertyPost(c, p, params); break;
        case alink::TopicKind::kEventPost: HandleEventPost(c, p, params); break;
        case alink::TopicKind::kPropertyHistoryPost:
          HandleHistoryPost(c, p, params, settings_.max_batch_samples);
          break;
        case alink::TopicKind::kPropertyBatchPost:
          HandleBatchPost(c, p, params, settings_.max_batch_samples);
          break;
        case alink::TopicKind::kDesiredGet: HandleDesiredGet(c, p, params, out); break;
        case alink::TopicKind::kDesiredDelete: HandleDesiredDelete(c, p, params, out); break;
        default: HandleDslTemplateGet(c, p); break;
      }
      return HandleStatus::kWork;
    }
    case alink::TopicKind::kPropertyPackPost: {
      auto product = directory_.FindProduct(topic.product_key);
      if (!product) {
        return LookupFailed(c, product.error(), codes::kProductNotFound, "product not found");
      }
      return HandlePackPost(c, **product, params, directory_);
    }
    case alink::TopicKind::kConfigGet: {
      auto product = directory_.FindProduct(topic.product_key);
      if (!product) {
        return LookupFailed(c, product.error(), codes::kProductNotFound, "product not found");
      }
      auto key = directory_.UrlSigningKey();
      if (!key) {
        return LookupFailed(c, key.error(), codes::kSystemError, "link signing key unavailable");
      }
      HandleConfigGet(c, **product, params, {*key, settings_.public_base_url});
      return HandleStatus::kWork;
    }
    case alink::TopicKind::kOtaFirmwareGet: {
      auto key = directory_.UrlSigningKey();
      if (!key) {
        return LookupFailed(c, key.error(), codes::kSystemError, "link signing key unavailable");
      }
      HandleOtaFirmwareGet(c, params, {*key, settings_.public_base_url}, out);
      return HandleStatus::kWork;
    }
    // OTA reports: stored, never answered (the protocol has no reply; refusals are stored rejections).
    case alink::TopicKind::kOtaInform: HandleOtaInform(c, params, out); return HandleStatus::kWork;
    case alink::TopicKind::kOtaProgress: HandleOtaProgress(c, params, out); return HandleStatus::kWork;
    case alink::TopicKind::kDeviceInfoUpdate: HandleTagsUpdate(c, params, out); return HandleStatus::kWork;
    case alink::TopicKind::kDeviceInfoDelete: HandleTagsDelete(c, params, out); return HandleStatus::kWork;
    case alink::TopicKind::kTopoAdd:
    case alink::TopicKind::kTopoDelete:
    case alink::TopicKind::kTopoGet:
    case alink::TopicKind::kSubRegister:
    case alink::TopicKind::kListFound: HandleTopology(c, params, out); return HandleStatus::kWork;
    default:
      // Sub-device unregister, diag, dynamic TSL, logs, ... until they are built: an explicit "not
      // supported", never silence.
      metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
      c.Fail(codes::kNotImplemented,
             "method not supported: " + std::string(alink::TopicKindName(topic.kind)));
      return HandleStatus::kWork;
  }
}

}  // namespace iot::gateway

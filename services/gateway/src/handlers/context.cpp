#include "handlers/context.hpp"

#include <algorithm>
#include <utility>

#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/hash.hpp"
#include "iot/common/safe_text.hpp"
#include "iot/script/hex.hpp"
#include "reply.hpp"

namespace iot::gateway::handler_detail {
namespace {

constexpr std::size_t kMaxRejectedValueBytes = 4096;

std::string_view EventTypeText(tsl::EventType type) {
  switch (type) {
    case tsl::EventType::kAlert: return "alert";
    case tsl::EventType::kError: return "error";
    case tsl::EventType::kInfo: break;
  }
  return "info";
}

}  // namespace

// Device bytes go to PostgreSQL only through StorableText / StorableJson (iot/common/safe_text.hpp):
// a payload that is not UTF-8, or JSON strings holding U+0000, would otherwise make PostgreSQL refuse
// the transaction that carries them.
std::string Truncate(std::string_view text) {
  return StorableText(text.substr(0, std::min(text.size(), kMaxRejectedValueBytes)));
}

std::string HexPreview(std::string_view bytes) { return script::ToHex(bytes, kMaxRejectedValueBytes / 2); }

tsl::Validator MakeValidator(const ProductEntry& product) {
  return tsl::Validator(product.model.get(), product.mode);
}

HandleStatus LookupFailed(Context& c, const boost::system::error_code& error, int code, const char* what) {
  if (Unavailable(error)) {
    return HandleStatus::kRetry;
  }
  c.Fail(code, what);
  return HandleStatus::kWork;
}

void Context::Answer(int code, json data, std::string message) {
  metrics_.replies.Add(std::to_string(code));
  if (!ack) {
    return;
  }
  auto reply = replies::ForRequest(topic_, reply_to, id, method, code, std::move(data), std::move(message));
  if (reply) {
    out_.reply = std::move(reply);
  }
}

store::TelemetryMessage& Context::Telemetry() {
  if (!out_.telemetry) {
    store::TelemetryMessage m;
    m.device_id = device_id;
    m.iot_id = iot_id;
    m.message_id = StorableText(id);
    m.payload_hash = payload_hash ? *payload_hash : Fnv1a64(in_.payload);
    m.received_at = in_.received_ms;
    out_.telemetry = std::move(m);
  }
  return *out_.telemetry;
}

void Context::Reject(std::string identifier, std::string value, int code, std::string message) {
  if (device_id == 0) {
    return;
  }
  store::RejectionItem r;
  r.time = now_;
  r.method = method.empty() ? alink::ExpectedMethod(topic_) : method;
  r.identifier = StorableText(identifier);
  r.value = std::move(value);  // Truncate()d: storable
  r.code = code;
  r.message = StorableText(message);
  Telemetry().rejections.push_back(std::move(r));
}

void Context::Fail(int code, std::string message, json data) {
  metrics_.requests_refused.Add(std::to_string(code));
  if (message.empty()) {
    message = std::string(alink::DefaultMessage(code));
  }
  Reject("", rejected_payload ? *rejected_payload : Truncate(in_.payload), code, message);
  Answer(code, std::move(data), std::move(message));
}

void Context::Refuse(const tsl::Refusal& refusal, const json* container, json& data) {
  metrics_.items_refused.Add(std::to_string(refusal.code));
  std::string value;
  if (refusal.value) {
    value = refusal.value->dump();
  } else if (container && container->is_object()) {
    if (auto it = container->find(refusal.identifier); it != container->end()) {
      value = it->dump();
    }
  }
  Reject(refusal.identifier, Truncate(value), refusal.code, refusal.message);
  if (!data.contains(refusal.identifier)) {
    data[refusal.identifier] = json{{"code", refusal.code}, {"message", refusal.message}};
  }
}

store::TelemetryMessage& Context::Part(std::int64_t sub_device_id, std::string iot_id,
                                       const std::string& product_key, const std::string& device_name) {
  const auto& own = Telemetry();
  store::TelemetryMessage m;
  m.device_id = sub_device_id;
  m.iot_id = std::move(iot_id);
  m.message_id = own.message_id;
  m.payload_hash = own.payload_hash;
  m.received_at = own.received_at;
  out_.parts.push_back(std::move(m));
  out_.part_devices.emplace_back(product_key, device_name);
  return out_.parts.back();
}

void Context::AddProperties(const tsl::Report& report, store::TelemetryMessage* target) {
  auto& t = target != nullptr ? *target : Telemetry();
  for (const tsl::Item& item : report.accepted) {
    t.properties.push_back(
        store::PropertyItem{StorableText(item.identifier), StorableJson(item.value->dump()), item.time_ms});
  }
  metrics_.items_accepted.Add(std::string(alink::TopicKindName(topic_.kind)), report.accepted.size());
}

void Context::AddEvents(const tsl::Report& report, const tsl::ThingModel* model,
                        store::TelemetryMessage* target) {
  auto& t = target != nullptr ? *target : Telemetry();
  for (const tsl::Item& item : report.accepted) {
    std::string type = "info";
    if (model) {
      if (const tsl::Event* e = model->FindEvent(item.identifier)) {
        type = EventTypeText(e->type);
      }
    }
    t.events.push_back(store::EventItem{StorableText(item.identifier), std::move(type),
                                        StorableJson(item.value->dump()), item.time_ms});
  }
  metrics_.items_accepted.Add(std::string(alink::TopicKindName(topic_.kind)), report.accepted.size());
}

}  // namespace iot::gateway::handler_detail

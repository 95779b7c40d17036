#include "handler.hpp"

#include <algorithm>
#include <utility>

#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/alink/status.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/safe_text.hpp"
#include "iot/script/hex.hpp"
#include "iot/store/errors.hpp"
#include "iot/tsl/validator.hpp"

namespace iot::gateway {
namespace {

using nlohmann::json;

constexpr int kProductNotFound = 6250;  // Alink: the topic's product does not exist
constexpr std::size_t kMaxRejectedValueBytes = 4096;
constexpr std::size_t kMaxTags = 200;
constexpr std::size_t kMaxTagKeyBytes = 64;
constexpr std::size_t kMaxTagValueBytes = 1024;

// Device bytes go to PostgreSQL only through StorableText / StorableJson (iot/common/safe_text.hpp):
// a payload that is not UTF-8, or JSON strings holding U+0000, would otherwise make PostgreSQL refuse
// the transaction that carries them.
std::string Truncate(std::string_view text) {
  return StorableText(text.substr(0, std::min(text.size(), kMaxRejectedValueBytes)));
}

// A raw payload as stored in a rejection: hex (the bytes need not be text), at most 4096 characters.
std::string HexPreview(std::string_view bytes) { return script::ToHex(bytes, kMaxRejectedValueBytes / 2); }

std::string_view EventTypeText(tsl::EventType type) {
  switch (type) {
    case tsl::EventType::kAlert: return "alert";
    case tsl::EventType::kError: return "error";
    case tsl::EventType::kInfo: break;
  }
  return "info";
}

bool ValidTagKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxTagKeyBytes) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(key.front())) return false;
  for (char c : key) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

}  // namespace

namespace handler_detail {

// Everything known about the message being handled.
class Context {
 public:
  Context(const InboundMessage& in, const alink::Topic& topic, TimeMs now_ms, Metrics& metrics,
          Work& out)
      : in_(in), topic_(topic), now_(now_ms), metrics_(metrics), out_(out) {}

  const alink::Topic& topic() const { return topic_; }
  TimeMs now() const { return now_; }
  std::string method;
  std::string id;
  bool ack = true;
  std::int64_t device_id = 0;  // 0 = unknown device: nothing can be stored
  // Raw products: the reply goes to up_raw_reply, the dedupe hash is the device's bytes', and a
  // request-level rejection stores the bytes as hex.
  std::optional<std::string> reply_to;
  std::optional<std::uint64_t> payload_hash;
  std::optional<std::string> rejected_payload;

  // Plans the reply (unless the device asked for none, or the topic has none).
  void Answer(int code, json data = json::object(), std::string message = {}) {
    metrics_.replies.Add(std::to_string(code));
    if (!ack) return;
    Reply r;
    if (reply_to) {
      r.topic = *reply_to;
    } else {
      auto reply_topic = alink::ReplyTopicFor(topic_);
      if (!reply_topic) return;
      r.topic = alink::FormatTopic(*reply_topic);
    }
    r.id = id;
    r.method = method.empty() ? alink::ExpectedMethod(topic_) : method;
    r.code = code;
    r.data = std::move(data);
    r.message = std::move(message);
    out_.reply = std::move(r);
  }

  store::TelemetryMessage& Telemetry() {
    if (!out_.telemetry) {
      store::TelemetryMessage m;
      m.device_id = device_id;
      m.message_id = StorableText(id);
      m.payload_hash = payload_hash ? *payload_hash : Fnv1a64(in_.payload);
      m.received_at = in_.received_ms;
      out_.telemetry = std::move(m);
    }
    return *out_.telemetry;
  }

  void Reject(std::string identifier, std::string value, int code, std::string message) {
    if (device_id == 0) return;
    store::RejectionItem r;
    r.time = now_;
    r.method = method.empty() ? alink::ExpectedMethod(topic_) : method;
    r.identifier = StorableText(identifier);
    r.value = std::move(value);  // Truncate()d: storable
    r.code = code;
    r.message = StorableText(message);
    Telemetry().rejections.push_back(std::move(r));
  }

  // A request-level failure: stored as one rejection (when the device is known) and answered.
  void Fail(int code, std::string message) {
    metrics_.requests_refused.Add(std::to_string(code));
    if (message.empty()) message = std::string(alink::DefaultMessage(code));
    Reject("", rejected_payload ? *rejected_payload : Truncate(in_.payload), code, message);
    Answer(code, json::object(), std::move(message));
  }

  // Item-level refusals: stored as rejections, named in the reply data.
  void Refuse(const tsl::Refusal& refusal, const json* container, json& data) {
    metrics_.items_refused.Add(std::to_string(refusal.code));
    std::string value;
    if (refusal.value) {
      value = refusal.value->dump();
    } else if (container && container->is_object()) {
      if (auto it = container->find(refusal.identifier); it != container->end()) value = it->dump();
    }
    Reject(refusal.identifier, Truncate(value), refusal.code, refusal.message);
    if (!data.contains(refusal.identifier)) {
      data[refusal.identifier] = json{{"code", refusal.code}, {"message", refusal.message}};
    }
  }

  void AddProperties(const tsl::Report& report) {
    auto& t = Telemetry();
    for (const tsl::Item& item : report.accepted) {
      t.properties.push_back(store::PropertyItem{StorableText(item.identifier),
                                                 StorableJson(item.value->dump()), item.time_ms});
    }
    metrics_.items_accepted.Add(std::string(alink::TopicKindName(topic_.kind)),
                                report.accepted.size());
  }

  void AddEvents(const tsl::Report& report, const tsl::ThingModel* model) {
    auto& t = Telemetry();
    for (const tsl::Item& item : report.accepted) {
      std::string type = "info";
      if (model) {
        if (const tsl::Event* e = model->FindEvent(item.identifier)) type = EventTypeText(e->type);
      }
      t.events.push_back(store::EventItem{StorableText(item.identifier), std::move(type),
                                          StorableJson(item.value->dump()), item.time_ms});
    }
    metrics_.items_accepted.Add(std::string(alink::TopicKindName(topic_.kind)),
                                report.accepted.size());
  }

 private:
  const InboundMessage& in_;
  const alink::Topic& topic_;
  TimeMs now_;
  Metrics& metrics_;
  Work& out_;
};

}  // namespace handler_detail

namespace {

using handler_detail::Context;

// A device request whose device or product lookup failed: retried while the directory is unavailable,
// else refused with `code` (nothing can be stored without them).
HandleStatus LookupFailed(Context& c, const boost::system::error_code& error, int code, const char* what) {
  if (store::Is(error, store::Errc::kUnavailable)) return HandleStatus::kRetry;
  c.Fail(code, what);
  return HandleStatus::kWork;
}

tsl::Validator MakeValidator(const ProductEntry& product) {
  return tsl::Validator(product.model.get(), product.mode);
}

void HandlePropertyPost(Context& c, const ProductEntry& p, const json& params) {
  tsl::Report report = MakeValidator(p).PropertyPost(params, c.now());
  if (!report.request_ok()) return c.Fail(report.code, report.message);
  c.AddProperties(report);
  json data = json::object();
  for (const auto& r : report.refused) c.Refuse(r, &params, data);
  c.Answer(200, std::move(data));
}

// Adds one validated event (accepted or refused) to the message; returns the refusal if any.
void AddEvent(Context& c, const ProductEntry& p, std::string_view event_id, const json& params,
              json& data) {
  tsl::Report report = MakeValidator(p).EventPost(event_id, params, c.now());
  if (!report.request_ok()) {
    tsl::Refusal r{std::string(event_id), report.code, report.message};
    json wrapper = json::object({{std::string(event_id), params}});
    c.Refuse(r, &wrapper, data);
    return;
  }
  c.AddEvents(report, p.model.get());
  json wrapper = json::object({{std::string(event_id), params}});
  for (const auto& r : report.refused) {
    tsl::Refusal named = r;
    named.identifier = std::string(event_id);  // refused whole; the message names the member
    c.Refuse(named, &wrapper, data);
  }
}

void HandleEventPost(Context& c, const ProductEntry& p, const json& params) {
  const std::string& event_id = c.topic().identifier;
  tsl::Report report = MakeValidator(p).EventPost(event_id, params, c.now());
  if (!report.request_ok()) return c.Fail(report.code, report.message);
  c.Telemetry();  // the dedupe key is written even when nothing else is
  if (report.refused.empty()) {
    c.AddEvents(report, p.model.get());
    return c.Answer(200);
  }
  // A refused event is answered with its own code, naming the failing member.
  json data = json::object();
  json wrapper = json::object({{event_id, params}});
  const tsl::Refusal& first = report.refused.front();
  for (const auto& r : report.refused) {
    tsl::Refusal named = r;
    named.identifier = event_id;
    c.Refuse(named, &wrapper, data);
  }
  c.Answer(first.code, std::move(data), first.message);
}

// thing.event.property.history.post: [{"identity":{productKey,deviceName},"properties":[{..}],
// "events":[{"evt":{"value":{..},"time":..}}]}]. A direct device may report only itself.
void HandleHistoryPost(Context& c, const ProductEntry& p, const json& params,
                       std::size_t max_samples) {
  if (!params.is_array()) return c.Fail(codes::kParamError, "params must be an array");
  std::size_t samples = 0;
  for (const json& entry : params) {
    if (!entry.is_object()) return c.Fail(codes::kParamError, "history entries must be objects");
    for (const char* key : {"properties", "events"}) {
      if (auto it = entry.find(key); it != entry.end()) {
        if (!it->is_array()) return c.Fail(codes::kParamError, std::string(key) + " must be an array");
        for (const json& m : *it) samples += m.is_object() ? m.size() : 1;
      }
    }
  }
  if (samples > max_samples) {
    return c.Fail(codes::kTooManyProperties,
                  "more than " + std::to_string(max_samples) + " samples in one message");
  }
  json data = json::object();
  c.Telemetry();
  for (const json& entry : params) {
    if (auto id = entry.find("identity"); id != entry.end()) {
      const json* pk = id->is_object() && id->contains("productKey") ? &(*id)["productKey"] : nullptr;
      const json* dn = id->is_object() && id->contains("deviceName") ? &(*id)["deviceName"] : nullptr;
      if (!pk || !dn || !pk->is_string() || !dn->is_string() ||
          pk->get_ref<const std::string&>() != c.topic().product_key ||
          dn->get_ref<const std::string&>() != c.topic().device_name) {
        tsl::Refusal r{"identity", codes::kDeviceNotFound,
                       "identity: a device may report history only for itself"};
        c.Refuse(r, &entry, data);
        continue;
      }
    }
    if (auto props = entry.find("properties"); props != entry.end()) {
      for (const json& map : *props) {
        tsl::Report report = MakeValidator(p).PropertyPost(map, c.now());
        if (!report.request_ok()) {
          tsl::Refusal r{"properties", report.code, report.message};
          c.Refuse(r, nullptr, data);
          continue;
        }
        c.AddProperties(report);
        for (const auto& r : report.refused) c.Refuse(r, &map, data);
      }
    }
    if (auto events = entry.find("events"); events != entry.end()) {
      for (const json& map : *events) {
        if (!map.is_object()) {
          c.Refuse(tsl::Refusal{"events", codes::kParamError, "events: items must be objects"},
                   nullptr, data);
          continue;
        }
        for (auto it = map.begin(); it != map.end(); ++it) AddEvent(c, p, it.key(), it.value(), data);
      }
    }
  }
  c.Answer(200, std::move(data));
}

// thing.event.property.batch.post: {"properties":{"id":[{value,time},..]},"events":{"id":[..]}}.
void HandleBatchPost(Context& c, const ProductEntry& p, const json& params,
                     std::size_t max_samples) {
  if (!params.is_object()) return c.Fail(codes::kParamError, "params must be an object");
  std::size_t samples = 0;
  for (const char* key : {"properties", "events"}) {
    if (auto it = params.find(key); it != params.end()) {
      if (!it->is_object()) return c.Fail(codes::kParamError, std::string(key) + " must be an object");
      if (it->size() > tsl::kMaxItemsPerPost) {
        return c.Fail(codes::kTooManyProperties, std::string(key) + ": more than 200 identifiers");
      }
      for (auto s = it->begin(); s != it->end(); ++s) samples += s->is_array() ? s->size() : 1;
    }
  }
  if (samples > max_samples) {
    return c.Fail(codes::kTooManyProperties,
                  "more than " + std::to_string(max_samples) + " samples in one message");
  }
  json data = json::object();
  c.Telemetry();
  const tsl::Validator validator = MakeValidator(p);
  if (auto props = params.find("properties"); props != params.end()) {
    json one = json::object();
    for (auto it = props->begin(); it != props->end(); ++it) {
      if (!it->is_array()) {
        c.Refuse(tsl::Refusal{it.key(), codes::kNotArray, it.key() + ": samples must be an array"},
                 &*props, data);
        continue;
      }
      for (const json& sample : *it) {
        one.clear();
        one[it.key()] = sample;
        tsl::Report report = validator.PropertyPost(one, c.now());
        if (!report.request_ok()) {
          c.Refuse(tsl::Refusal{it.key(), report.code, report.message}, &one, data);
          continue;
        }
        c.AddProperties(report);
        for (const auto& r : report.refused) c.Refuse(r, &one, data);
      }
    }
  }
  if (auto events = params.find("events"); events != params.end()) {
    for (auto it = events->begin(); it != events->end(); ++it) {
      if (!it->is_array()) {
        c.Refuse(tsl::Refusal{it.key(), codes::kNotArray, it.key() + ": samples must be an array"},
                 &*events, data);
        continue;
      }
      for (const json& sample : *it) AddEvent(c, p, it.key(), sample, data);
    }
  }
  c.Answer(200, std::move(data));
}

void HandleDesiredGet(Context& c, const ProductEntry& p, const json& params, Work& out) {
  tsl::Report report = MakeValidator(p).DesiredGet(params, c.now());
  if (!report.request_ok()) return c.Fail(report.code, report.message);
  DesiredGetOp op;
  op.device_id = c.device_id;
  for (const auto& item : report.accepted) op.identifiers.push_back(StorableText(item.identifier));
  json data = json::object();
  for (const auto& r : report.refused) c.Refuse(r, nullptr, data);
  out.op = std::move(op);
  c.Answer(200, std::move(data));  // the writer adds the values
}

void HandleDesiredDelete(Context& c, const ProductEntry& p, const json& params, Work& out) {
  tsl::Report report = MakeValidator(p).DesiredDelete(params, c.now());
  if (!report.request_ok()) return c.Fail(report.code, report.message);
  DesiredDeleteOp op;
  op.device_id = c.device_id;
  for (const auto& item : report.accepted) {
    store::DesiredChange change;
    change.identifier = StorableText(item.identifier);
    if (params.is_object()) {
      auto it = params.find(std::string(item.identifier));
      if (it != params.end() && it->is_object()) {
        auto v = it->find("version");
        if (v != it->end() && v->is_number_integer()) change.expected_version = v->get<int>();
      }
    }
    op.changes.push_back(std::move(change));
  }
  json data = json::object();
  for (const auto& r : report.refused) c.Refuse(r, &params, data);
  out.op = std::move(op);
  c.Answer(200, std::move(data));
}

void HandleDslTemplateGet(Context& c, const ProductEntry& p) {
  if (!p.version || p.tsl_json.empty()) {
    return c.Fail(codes::kPropertyDefsUnavailable, "no published thing model");
  }
  json tsl = json::parse(p.tsl_json, nullptr, false);
  if (tsl.is_discarded()) return c.Fail(codes::kPropertyDefsUnavailable, "thing model unreadable");
  c.Answer(200, std::move(tsl));
}

void HandleTagsUpdate(Context& c, const json& params, Work& out) {
  if (!params.is_array() || params.empty()) return c.Fail(codes::kParamError, "params must be a non-empty array");
  if (params.size() > kMaxTags) return c.Fail(codes::kParamError, "more than 200 tags");
  TagsUpdateOp op;
  op.device_id = c.device_id;
  for (const json& item : params) {
    if (!item.is_object()) return c.Fail(codes::kParamError, "tags must be objects");
    auto k = item.find("attrKey");
    auto v = item.find("attrValue");
    if (k == item.end() || !k->is_string() || !ValidTagKey(k->get_ref<const std::string&>())) {
      return c.Fail(codes::kParamError, "attrKey must be 1-64 letters, digits or _, not starting with a digit");
    }
    if (v == item.end() || !(v->is_string() || v->is_number())) {
      return c.Fail(codes::kParamError, k->get<std::string>() + ": attrValue must be a string");
    }
    std::string value = v->is_string() ? v->get<std::string>() : v->dump();
    if (value.empty() || value.size() > kMaxTagValueBytes) {
      return c.Fail(codes::kParamError, k->get<std::string>() + ": attrValue must be 1-1024 bytes");
    }
    op.tags[k->get<std::string>()] = StorableText(value);  // the key is checked: ASCII
  }
  out.op = std::move(op);
  c.Answer(200);
}

void HandleTagsDelete(Context& c, const json& params, Work& out) {
  if (!params.is_array() || params.empty()) return c.Fail(codes::kParamError, "params must be a non-empty array");
  if (params.size() > kMaxTags) return c.Fail(codes::kParamError, "more than 200 tags");
  TagsDeleteOp op;
  op.device_id = c.device_id;
  for (const json& item : params) {
    auto k = item.is_object() ? item.find("attrKey") : item.end();
    if (!item.is_object() || k == item.end() || !k->is_string() ||
        !ValidTagKey(k->get_ref<const std::string&>())) {
      return c.Fail(codes::kParamError, "attrKey must be 1-64 letters, digits or _, not starting with a digit");
    }
    op.keys.push_back(k->get<std::string>());
  }
  out.op = std::move(op);
  c.Answer(200);
}

}  // namespace

std::uint64_t Fnv1a64(std::string_view payload) {
  std::uint64_t h = 14695981039346656037ULL;
  for (unsigned char ch : payload) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return h;
}

Handler::Handler(Directory& directory, Metrics& metrics, HandlerSettings settings)
    : directory_(directory),
      metrics_(metrics),
      settings_(settings),
      limiter_(settings.rate_per_second),
      scripts_(settings.script_limits, settings.script_budget_ms) {}

HandleStatus Handler::Handle(const InboundMessage& in, TimeMs now_ms, Work& out) {
  out = Work{};
  auto parsed = alink::ParseTopic(in.topic);
  if (!parsed) {
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);
    IOT_LOG_LIMITED(noise_, log::Level::kWarn, "gateway",
                    "unparsable topic topic=" << log::Quote(in.topic));
    return HandleStatus::kIgnore;
  }
  const alink::Topic& topic = *parsed;
  out.kind = std::string(alink::TopicKindName(topic.kind));

  // Lifecycle from the broker plugin: applied by the writer in order, ordered by the plugin's seq.
  if (topic.kind == alink::TopicKind::kMqttStatus) {
    metrics_.messages_in.Add(out.kind);
    auto status = alink::DecodeStatus(in.payload);
    if (!status) {
      IOT_LOG_LIMITED(noise_, log::Level::kWarn, "gateway",
                      "bad lifecycle message topic=" << log::Quote(in.topic));
      return HandleStatus::kIgnore;
    }
    auto device = directory_.FindDevice(status->product_key, status->device_name);
    if (!device) {
      if (store::Is(device.error(), store::Errc::kUnavailable)) return HandleStatus::kRetry;
      return HandleStatus::kIgnore;  // deleted meanwhile
    }
    LifecycleOp op;
    op.event.device_id = device->device_id;
    op.event.online = status->status == alink::DeviceStatus::kOnline;
    op.event.time = status->last_time_ms;
    op.event.sequence =
        status->seq != 0 ? static_cast<std::int64_t>(status->seq) : status->last_time_ms;
    op.event.ip_address = StorableText(status->client_ip);
    out.op = std::move(op);
    return HandleStatus::kWork;
  }

  if (!alink::IsDevicePublished(topic)) {  // downlinks seen through thing/service/+, our replies
    metrics_.ignored.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  metrics_.messages_in.Add(out.kind);
  Context c(in, topic, now_ms, metrics_, out);

  // NTP: answered at once, nothing stored.
  if (topic.kind == alink::TopicKind::kNtpRequest) {
    auto req = alink::DecodeNtpRequest(in.payload);
    auto reply_topic = alink::ReplyTopicFor(topic);
    if (!req || !reply_topic) {
      metrics_.requests_refused.Add(std::to_string(req ? 6203 : alink::AlinkCode(req.error())));
      return HandleStatus::kIgnore;
    }
    Reply r;
    r.topic = alink::FormatTopic(*reply_topic);
    r.raw = alink::BuildNtpResponse(*req, in.received_ms, now_ms);
    r.code = 200;
    out.reply = std::move(r);
    metrics_.replies.Add("200");
    return HandleStatus::kWork;
  }

  // Raw products: bytes converted by the product's script, then handled like their Alink form.
  if (topic.kind == alink::TopicKind::kModelUpRaw && !topic.reply) return HandleRawUp(c, in, now_ms, out);
  if (topic.kind == alink::TopicKind::kModelDownRaw && topic.reply) {
    return HandleRawDownReply(c, in, now_ms, out);
  }

  // The device's answer to a downlink (service call, property set): complete the call record.
  if (topic.reply) {
    auto reply = alink::DecodeReply(in.payload);
    if (!reply) {
      metrics_.requests_refused.Add(std::to_string(alink::AlinkCode(reply.error())));
      IOT_LOG_LIMITED(noise_, log::Level::kWarn, "gateway",
                      "undecodable device reply topic=" << log::Quote(in.topic));
      return HandleStatus::kIgnore;
    }
    c.id = reply->id;
    c.ack = false;  // replies are not answered
    auto device = directory_.FindDevice(topic.product_key, topic.device_name);
    if (!device) {
      if (store::Is(device.error(), store::Errc::kUnavailable)) return HandleStatus::kRetry;
      return HandleStatus::kIgnore;
    }
    c.device_id = device->device_id;
    return CompleteCall(c, topic, *reply, now_ms, out);
  }

  // A device request.
  auto req = alink::DecodeRequest(in.payload);
  if (req) {
    c.id = req->id;
    c.method = req->method;
    c.ack = req->ack;
  }
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) return LookupFailed(c, device.error(), codes::kDeviceNotFound, "device not found");
  c.device_id = device->device_id;
  if (!req) {
    c.Fail(alink::AlinkCode(req.error()), req.error().message());
    return HandleStatus::kWork;
  }
  if (!Admit(c, *device, topic, now_ms)) return HandleStatus::kWork;
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

HandleStatus Handler::CompleteCall(Context& c, const alink::Topic& topic, const alink::Reply& reply,
                                   TimeMs now_ms, Work& out) {
  ServiceReplyOp op;
  op.device_id = c.device_id;
  op.alink_id = StorableText(reply.id);
  op.code = reply.code;
  op.message = StorableText(reply.message);
  op.succeeded = reply.code == 200;
  op.output_json = reply.data->is_null() ? "{}" : StorableJson(reply.data->dump());
  op.replied_at = now_ms;
  if (topic.kind == alink::TopicKind::kServiceCall && reply.code == 200) {
    auto product = directory_.FindProduct(topic.product_key);
    if (!product) {
      if (store::Is(product.error(), store::Errc::kUnavailable)) return HandleStatus::kRetry;
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
        for (const auto& r : report.refused) c.Refuse(r, &data, ignored);
        op.succeeded = false;
        op.code = report.refused.front().code;
        op.message = StorableText("outputData: " + report.refused.front().message);
      }
    }
  }
  if (out.telemetry) out.telemetry->message_id.clear();  // replies carry the call's id: no dedupe
  out.op = std::move(op);
  return HandleStatus::kWork;
}

HandleStatus Handler::Dispatch(Context& c, const alink::Topic& topic, const alink::Request& req,
                               Work& out) {
  if (auto check = alink::CheckMethod(topic, req.method); !check) {
    if (topic.kind == alink::TopicKind::kSysUnknown) {
      metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
      c.Fail(codes::kMethodMismatch, "method not supported");
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
      if (!product) return LookupFailed(c, product.error(), kProductNotFound, "product not found");
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
    case alink::TopicKind::kDeviceInfoUpdate: HandleTagsUpdate(c, params, out); return HandleStatus::kWork;
    case alink::TopicKind::kDeviceInfoDelete: HandleTagsDelete(c, params, out); return HandleStatus::kWork;
    default:
      // OTA, remote config, sub-devices, topology, pack post, diag, dynamic TSL, logs, ... until
      // they are built: an explicit "not supported", never silence.
      metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
      c.Fail(codes::kMethodMismatch, "method not supported: " + std::string(alink::TopicKindName(topic.kind)));
      return HandleStatus::kWork;
  }
}

// thing/model/up_raw: the product's rawDataToProtocol turns the bytes into an Alink request, which is
// then handled exactly like one posted on the topic its method names (validation, storage, reply);
// the reply goes back through protocolToRawData on up_raw_reply. Failures before a usable request
// exists (unknown device, no or failing script, no method) are answered in Alink JSON: the script
// cannot be trusted to encode them.
HandleStatus Handler::HandleRawUp(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out) {
  const alink::Topic& topic = c.topic();
  c.rejected_payload = HexPreview(in.payload);
  auto device = directory_.FindDevice(topic.product_key, topic.device_name);
  if (!device) return LookupFailed(c, device.error(), codes::kDeviceNotFound, "device not found");
  c.device_id = device->device_id;
  if (!Admit(c, *device, topic, now_ms)) return HandleStatus::kWork;
  auto product = directory_.FindProduct(topic.product_key);
  if (!product) return LookupFailed(c, product.error(), kProductNotFound, "product not found");
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
  inner.reply_to = alink::FormatTopic(*alink::ReplyTopicFor(topic));
  inner.payload_hash = Fnv1a64(in.payload);
  inner.rejected_payload = c.rejected_payload;
  out.kind = std::string(alink::TopicKindName(inner_topic->kind)) + "_raw";
  const HandleStatus status = Dispatch(inner, *inner_topic, *req, out);
  if (status != HandleStatus::kWork || !out.reply) return status;
  Reply& r = *out.reply;
  r.encoder = scripts_.Encoder(p);
  if (std::holds_alternative<DesiredGetOp>(out.op)) return status;  // values added by the writer
  const json reply = json::parse(alink::BuildReply(r.id, r.code, r.method, r.data,
                                                   r.message.empty() ? alink::DefaultMessage(r.code)
                                                                     : std::string_view(r.message)));
  auto bytes = scripts_.ToRaw(p, reply, now_ms);
  metrics_.script_calls.fetch_add(1, std::memory_order_relaxed);
  if (bytes) {
    r.raw = std::move(*bytes);
  } else {
    // The Alink JSON reply goes out instead (the device still gets an answer); counted and logged.
    r.encoder.reset();
    metrics_.requests_refused.Add(std::to_string(bytes.error().code));
    IOT_LOG_LIMITED(noise_, log::Level::kWarn, "gateway",
                    "protocolToRawData failed product=" << topic.product_key << " code=" << bytes.error().code
                        << " error=" << log::Quote(bytes.error().Text()));
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
    if (store::Is(device.error(), store::Errc::kUnavailable)) return HandleStatus::kRetry;
    return HandleStatus::kIgnore;
  }
  c.device_id = device->device_id;
  auto product = directory_.FindProduct(topic.product_key);
  if (!product) {
    if (store::Is(product.error(), store::Errc::kUnavailable)) return HandleStatus::kRetry;
    return HandleStatus::kIgnore;
  }
  if (!(*product)->raw) {
    metrics_.not_supported.fetch_add(1, std::memory_order_relaxed);
    return HandleStatus::kIgnore;
  }
  auto converted = scripts_.ToProtocol(**product, in.payload, now_ms);
  metrics_.script_calls.fetch_add(1, std::memory_order_relaxed);
  if (!converted) {
    c.Fail(converted.error().code, "rawDataToProtocol: " + converted.error().Text());
    if (out.telemetry) out.telemetry->message_id.clear();
    return HandleStatus::kWork;
  }
  auto reply = alink::DecodeReply(converted->dump());
  if (!reply) {
    c.Fail(alink::AlinkCode(reply.error()), "rawDataToProtocol: not a reply: " + reply.error().message());
    if (out.telemetry) out.telemetry->message_id.clear();
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

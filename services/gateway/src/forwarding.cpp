#include "forwarding.hpp"

#include <map>
#include <utility>

#include <nlohmann/json.hpp>

#include "iot/alink/status.hpp"
#include "iot/common/json_text.hpp"
#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"

namespace iot::gateway {
namespace {

using nlohmann::json;

constexpr std::pair<std::string_view, ForwardKind> kKinds[] = {
    {"property", ForwardKind::kProperty},   {"event", ForwardKind::kEvent},
    {"history", ForwardKind::kHistory},     {"status", ForwardKind::kStatus},
    {"reply", ForwardKind::kReply},         {"message", ForwardKind::kMessage},
    {"alarm", ForwardKind::kAlarm},         {"ota", ForwardKind::kOta},
    {"lifecycle", ForwardKind::kLifecycle},
};

// What a filter reads: values parsed on first use, kept for the evaluation of every rule.
class Values {
 public:
  const json* Parsed(std::string_view key, const std::string& text) {
    auto it = parsed_.find(key);
    if (it == parsed_.end()) {
      it = parsed_.emplace(std::string(key), json::parse(text, nullptr, false)).first;
    }
    return it->second.is_discarded() ? nullptr : &it->second;
  }
  const json* Set(std::string_view key, json value) {
    return &(parsed_[std::string(key)] = std::move(value));
  }

 private:
  std::map<std::string, json, std::less<>> parsed_;
};

std::vector<std::int64_t> Matching(const std::vector<RouteRule>& rules, const std::string& product_key,
                                   ForwardKind kind, const expr::Expression::Lookup& lookup) {
  std::vector<std::int64_t> ids;
  for (const RouteRule& rule : rules) {
    if (!rule.Wants(kind) || (rule.product_key && *rule.product_key != product_key)) {
      continue;
    }
    if (rule.filter && !rule.filter->Matches(lookup)) {
      continue;
    }
    ids.push_back(rule.id);
  }
  return ids;
}

// "/{pk}/{dn}" + rest.
std::string DeviceTopic(const alink::Topic& topic, std::string_view rest) {
  std::string out = "/" + topic.product_key + "/" + topic.device_name;
  out += rest;
  return out;
}

// The fields every thing message starts with.
void AppendHead(std::string& out, const alink::Topic& topic, const store::TelemetryMessage& t) {
  out += "{\"requestId\":";
  AppendJsonString(out, t.message_id);
  out += ",\"productKey\":";
  AppendJsonString(out, topic.product_key);
  out += ",\"deviceName\":";
  AppendJsonString(out, topic.device_name);
  out += ",\"gmtCreate\":" + std::to_string(t.received_at);
}

// A refused item's value as JSON: the text the device sent when it is JSON, else that text as a string.
void AppendRefusedValue(std::string& out, const std::string& value) {
  if (!value.empty() && json::accept(value)) {
    out += value;
  } else {
    AppendJsonString(out, value);
  }
}

// ,"checkFailedData":{"<id>":{"value","time","code","message"},...} of the item-level refusals, if any.
void AppendRefusals(std::string& body, const std::vector<store::RejectionItem>& rejections) {
  bool first = true;
  for (const auto& r : rejections) {
    if (r.identifier.empty()) {
      continue;  // a request-level failure stored nothing to forward
    }
    body += first ? ",\"checkFailedData\":{" : ",";
    first = false;
    AppendJsonString(body, r.identifier);
    body += ":{\"value\":";
    AppendRefusedValue(body, r.value);
    body += ",\"time\":" + std::to_string(r.time) + ",\"code\":" + std::to_string(r.code) + ",\"message\":";
    AppendJsonString(body, r.message);
    body.push_back('}');
  }
  if (!first) {
    body.push_back('}');
  }
}

// Property (and history) posts: the items of one message, each identifier once per forwarded message
// (a batch post's repeated samples of one identifier go to the following messages, in order).
void RouteProperties(const std::vector<RouteRule>& rules, const alink::Topic& topic, ForwardKind kind,
                     store::TelemetryMessage& t) {
  if (t.properties.empty()) {
    return;
  }
  std::vector<std::vector<const store::PropertyItem*>> groups;
  std::map<std::string_view, std::size_t> seen;
  for (const auto& p : t.properties) {
    const std::size_t occurrence = seen[p.identifier]++;
    if (occurrence >= groups.size()) {
      groups.emplace_back();
    }
    groups[occurrence].push_back(&p);
  }
  const bool history = kind == ForwardKind::kHistory;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& items = groups[g];
    Values values;
    auto lookup = [&](std::string_view id) -> const json* {
      for (const auto* p : items) {
        if (p->identifier == id) {
          return values.Parsed(id, p->value_json);
        }
      }
      return nullptr;
    };
    auto ids = Matching(rules, topic.product_key, kind, lookup);
    if (ids.empty()) {
      continue;
    }
    std::string body;
    AppendHead(body, topic, t);
    body += ",\"deviceType\":\"CustomCategory\",\"items\":{";
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i > 0) {
        body.push_back(',');
      }
      AppendJsonString(body, items[i]->identifier);
      body += ":{\"value\":" + items[i]->value_json + ",\"time\":" + std::to_string(items[i]->time) + "}";
    }
    body.push_back('}');
    // Weak validation: the items refused (named in the reply) ride along with the first message.
    if (g == 0) {
      AppendRefusals(body, t.rejections);
    }
    body.push_back('}');
    t.forward.push_back(store::ForwardMessage{
        std::move(ids), ForwardKindName(kind),
        DeviceTopic(topic, history ? "/thing/event/property/history/post" : "/thing/event/property/post"),
        std::move(body), topic.product_key, topic.device_name, t.iot_id});
  }
}

// Events: one forwarded message each. A filter reads the event's output members, and `event.identifier`
// and `event.type` (`event` is a reserved word of thing models, so no property or member has that name).
void RouteEvents(const std::vector<RouteRule>& rules, const alink::Topic& topic, ForwardKind kind,
                 store::TelemetryMessage& t) {
  for (const auto& e : t.events) {
    Values values;
    const json* output = values.Parsed("", e.output_json.empty() ? std::string("{}") : e.output_json);
    auto lookup = [&](std::string_view id) -> const json* {
      if (id == "event") {
        return values.Set("event", json{{"identifier", e.identifier}, {"type", e.type}});
      }
      if (output == nullptr || !output->is_object()) {
        return nullptr;
      }
      auto it = output->find(std::string(id));
      return it == output->end() ? nullptr : &*it;
    };
    auto ids = Matching(rules, topic.product_key, kind, lookup);
    if (ids.empty()) {
      continue;
    }
    std::string body;
    AppendHead(body, topic, t);
    body += ",\"identifier\":";
    AppendJsonString(body, e.identifier);
    body += ",\"name\":";
    AppendJsonString(body, e.identifier);
    body += ",\"type\":";
    AppendJsonString(body, e.type);
    body += ",\"value\":" + (e.output_json.empty() ? std::string("{}") : e.output_json);
    body += ",\"time\":" + std::to_string(e.time) + "}";
    const std::string rest =
        "/thing/event/" + e.identifier + (kind == ForwardKind::kHistory ? "/history/post" : "/post");
    t.forward.push_back(store::ForwardMessage{std::move(ids), ForwardKindName(kind), DeviceTopic(topic, rest),
                                              std::move(body), topic.product_key, topic.device_name,
                                              t.iot_id});
  }
}

void RouteStatus(const std::vector<RouteRule>& rules, const alink::Topic& topic, const std::string& payload,
                 LifecycleOp& op) {
  auto status = alink::DecodeStatus(payload);
  if (!status) {
    return;
  }
  status->seq = 0;  // the plugin's own counter is no part of the forwarded body
  Values values;
  auto lookup = [&](std::string_view id) -> const json* {
    if (id == "status") {
      return values.Set(id, status->status == alink::DeviceStatus::kOnline ? "online" : "offline");
    }
    if (id == "clientIp") {
      return values.Set(id, status->client_ip);
    }
    return nullptr;
  };
  auto ids = Matching(rules, topic.product_key, ForwardKind::kStatus, lookup);
  if (ids.empty()) {
    return;
  }
  json body = json::parse(alink::EncodeStatus(*status), nullptr, false);
  if (!body.is_object()) {
    return;
  }
  body.erase("seq");
  op.event.forward.push_back(
      store::ForwardMessage{std::move(ids), ForwardKindName(ForwardKind::kStatus),
                            "/as/mqtt/status/" + topic.product_key + "/" + topic.device_name, body.dump()});
}

// A device's reply to a downlink (service call, property set): the reference's downlink reply message.
// A filter reads `code`, and the members of the reply's data.
void RouteReply(const std::vector<RouteRule>& rules, const alink::Topic& topic, const std::string& raw_topic,
                ServiceReplyOp& op) {
  Values values;
  const json* data = values.Parsed("", op.output_json.empty() ? std::string("{}") : op.output_json);
  auto lookup = [&](std::string_view id) -> const json* {
    if (id == "code") {
      return values.Set("code", op.code);
    }
    if (data == nullptr || !data->is_object()) {
      return nullptr;
    }
    auto it = data->find(std::string(id));
    return it == data->end() ? nullptr : &*it;
  };
  auto ids = Matching(rules, topic.product_key, ForwardKind::kReply, lookup);
  if (ids.empty()) {
    return;
  }
  std::string body = "{\"gmtCreate\":" + std::to_string(op.replied_at) + ",\"productKey\":";
  AppendJsonString(body, topic.product_key);
  body += ",\"deviceName\":";
  AppendJsonString(body, topic.device_name);
  body += ",\"requestId\":";
  AppendJsonString(body, op.alink_id);
  body += ",\"code\":" + std::to_string(op.code) + ",\"message\":";
  AppendJsonString(body, op.message);
  body += ",\"topic\":";
  AppendJsonString(body, raw_topic);
  body += ",\"data\":" + (data != nullptr ? data->dump() : std::string("{}")) + "}";
  op.forward.push_back(store::ForwardMessage{std::move(ids), ForwardKindName(ForwardKind::kReply),
                                             DeviceTopic(topic, "/thing/downlink/reply/message"),
                                             std::move(body)});
}

// Base64 (RFC 4648, padded) of bytes that are not JSON.
std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out +=
        {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const unsigned v =
        (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

// A message on one of a device's custom topics: forwarded on that topic. The reference forwards the bytes
// as they came; here they go inside a JSON object: `payload` is the JSON value when the bytes are JSON,
// else their Base64 (`payloadEncoding` says which). A filter reads the top-level members of a JSON object.
void RouteMessage(const std::vector<RouteRule>& rules, const alink::Topic& topic, UserMessageOp& op) {
  Values values;
  const json* parsed = values.Parsed("", op.payload);
  auto lookup = [&](std::string_view id) -> const json* {
    if (parsed == nullptr || !parsed->is_object()) {
      return nullptr;
    }
    auto it = parsed->find(std::string(id));
    return it == parsed->end() ? nullptr : &*it;
  };
  auto ids = Matching(rules, topic.product_key, ForwardKind::kMessage, lookup);
  if (ids.empty()) {
    return;
  }
  std::string body = "{\"gmtCreate\":" + std::to_string(op.received_ms) + ",\"productKey\":";
  AppendJsonString(body, topic.product_key);
  body += ",\"deviceName\":";
  AppendJsonString(body, topic.device_name);
  body += ",\"topic\":";
  AppendJsonString(body, op.topic);
  if (parsed != nullptr) {
    body += ",\"payloadEncoding\":\"json\",\"payload\":" + parsed->dump();
  } else {
    body += ",\"payloadEncoding\":\"base64\",\"payload\":\"" + Base64(op.payload) + "\"";
  }
  body.push_back('}');
  op.forward.push_back(store::ForwardMessage{std::move(ids), ForwardKindName(ForwardKind::kMessage), op.topic,
                                             std::move(body)});
}

}  // namespace

std::optional<ForwardKind> ParseForwardKind(std::string_view name) {
  for (const auto& [text, kind] : kKinds) {
    if (text == name) {
      return kind;
    }
  }
  return std::nullopt;
}

const char* ForwardKindName(ForwardKind kind) {
  for (const auto& [text, k] : kKinds) {
    if (k == kind) {
      return text.data();
    }
  }
  return "property";
}

std::optional<RouteRule> CompileRule(const store::ForwardRule& rule, std::string& error) {
  RouteRule out;
  out.id = rule.id;
  out.product_key = rule.product_key;
  for (const auto& name : rule.kinds) {
    if (auto kind = ParseForwardKind(name)) {
      out.kinds |= 1U << static_cast<unsigned>(*kind);
    }
  }
  if (out.kinds == 0) {
    error = "no kind this gateway forwards";
    return std::nullopt;
  }
  if (!rule.filter.empty()) {
    auto parsed = expr::Parse(rule.filter);
    if (!parsed.ok()) {
      error = "filter: " + parsed.error->Describe();
      return std::nullopt;
    }
    out.filter = std::move(parsed.expression);
  }
  return out;
}

ForwardRules::Snapshot ForwardRules::Get() const {
  std::lock_guard lock(mutex_);
  return rules_;
}

void ForwardRules::Replace(std::vector<RouteRule> rules) {
  auto next = std::make_shared<const std::vector<RouteRule>>(std::move(rules));
  std::lock_guard lock(mutex_);
  any_.store(!next->empty(), std::memory_order_release);
  rules_ = std::move(next);
  loaded_.store(true, std::memory_order_release);
}

Result<void> ForwardRules::Load(store::Db& db) {
  auto rules = store::ListForwardRules(db);
  if (!rules) {
    // PostgreSQL away: the handlers keep waiting. Any other failure (a schema older than the gateway, a
    // missing privilege) must not stop ingest: the rules known so far stay, the caller logs and retries.
    if (!store::Is(rules.error(), store::Errc::kUnavailable)) {
      loaded_.store(true, std::memory_order_release);
    }
    return rules.error();
  }
  std::vector<RouteRule> compiled;
  for (const auto& rule : *rules) {
    if (!rule.enabled) {
      continue;
    }
    std::string error;
    if (auto r = CompileRule(rule, error)) {
      compiled.push_back(std::move(*r));
    } else {
      IOT_LOG_WARN("gateway",
                   "msg=\"forwarding rule ignored\" rule=" << rule.id << " error=" << log::Quote(error));
    }
  }
  Replace(std::move(compiled));
  return {};
}

void Route(const std::vector<RouteRule>& rules, const alink::Topic& topic, const std::string& status_payload,
           Work& work) {
  if (rules.empty()) {
    return;
  }
  if (topic.kind == alink::TopicKind::kMqttStatus) {
    if (auto* op = std::get_if<LifecycleOp>(&work.op)) {
      RouteStatus(rules, topic, status_payload, *op);
    }
    return;
  }
  if (auto* reply = std::get_if<ServiceReplyOp>(&work.op)) {
    RouteReply(rules, topic, alink::FormatTopic(topic), *reply);
    return;
  }
  if (auto* message = std::get_if<UserMessageOp>(&work.op)) {
    RouteMessage(rules, topic, *message);
    return;
  }
  if (!work.telemetry) {
    return;
  }
  store::TelemetryMessage& t = *work.telemetry;
  switch (topic.kind) {
    case alink::TopicKind::kPropertyPost:
    case alink::TopicKind::kPropertyBatchPost:
    case alink::TopicKind::kModelUpRaw:
      RouteProperties(rules, topic, ForwardKind::kProperty, t);
      RouteEvents(rules, topic, ForwardKind::kEvent, t);
      break;
    case alink::TopicKind::kEventPost: RouteEvents(rules, topic, ForwardKind::kEvent, t); break;
    case alink::TopicKind::kPropertyHistoryPost:
      RouteProperties(rules, topic, ForwardKind::kHistory, t);
      RouteEvents(rules, topic, ForwardKind::kHistory, t);
      break;
    case alink::TopicKind::kPropertyPackPost:
      // The gateway's own part, then each sub-device's: forwarded as that device's property and event
      // posts, by its own product's rules (an application reads a device's data on the device's topic,
      // whichever way it came in).
      RouteProperties(rules, topic, ForwardKind::kProperty, t);
      RouteEvents(rules, topic, ForwardKind::kEvent, t);
      for (std::size_t i = 0; i < work.parts.size() && i < work.part_devices.size(); ++i) {
        alink::Topic sub = topic;
        sub.product_key = work.part_devices[i].first;
        sub.device_name = work.part_devices[i].second;
        sub.kind = alink::TopicKind::kPropertyPost;
        RouteProperties(rules, sub, ForwardKind::kProperty, work.parts[i]);
        RouteEvents(rules, sub, ForwardKind::kEvent, work.parts[i]);
      }
      break;
    default: break;
  }
}

}  // namespace iot::gateway

// Forwarding rules over REST (admin): /api/v1/rules. A rule names a source (a product or all, and
// message kinds), an optional filter in the expression language of libs/expr, and its destinations;
// the gateway writes the outbox and delivers it (iot/store/forwarding.hpp). Also each rule's delivery
// status and its dead letters (list, replay). Destination secrets are stored and never returned.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/expr/expr.hpp"
#include "iot/store/forwarding.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kDeadLetterCursor = "deadLetters";
constexpr std::size_t kMaxUrlBytes = 2048;
constexpr int kMaxReplayIds = 1000;
constexpr std::size_t kMaxCaBytes = 64 * 1024;

// The message kinds a rule may name.
const std::vector<std::string> kKinds = {"property", "event", "history", "status",   "reply",
                                         "message",  "alarm", "ota",     "lifecycle"};

std::shared_ptr<BodySchema> DestinationSchema() {
  auto d = std::make_shared<BodySchema>();
  d->Required("type", FieldType::kString, {.one_of = {"webhook", "amqp", "mqtt"}})
      .Optional("url", FieldType::kString, {.min = 1, .max = double(kMaxUrlBytes)})
      .Optional("secret", FieldType::kString, {.max = 256})
      .Optional("exchange", FieldType::kString, {.max = 255})
      .Optional("topic", FieldType::kString, {.max = 1024})
      .Optional("username", FieldType::kString, {.max = 256})
      .Optional("password", FieldType::kString, {.max = 256})
      .Optional("ca", FieldType::kString, {.max = double(kMaxCaBytes)});
  return d;
}

const BodySchema& CreateSchema() {
  static const BodySchema kSchema = [] {
    auto source = std::make_shared<BodySchema>();
    source->Optional("productKey", FieldType::kString, {.nullable = true})
        .Required("kinds", FieldType::kArray, {.min = 1, .max = 16, .items = FieldType::kString});
    BodySchema root;
    root.Required("name", FieldType::kString, {.min = 1, .max = 128})
        .Optional("enabled", FieldType::kBoolean)
        .Required("source", FieldType::kObject, {.object = source})
        .Optional("filter", FieldType::kString, {.nullable = true, .max = 4096})
        .Optional("includeDeviceSecret", FieldType::kBoolean)
        .Required("destinations", FieldType::kArray,
                  {.min = 1, .max = 10, .items = FieldType::kObject, .item_object = DestinationSchema()});
    return root;
  }();
  return kSchema;
}

// The source is fixed once the rule has a cursor in the outbox.
const BodySchema& PatchSchema() {
  static const BodySchema kSchema = CreateSchema().AsPatch({"source"});
  return kSchema;
}

const BodySchema& ReplaySchema() {
  static const BodySchema kSchema = [] {
    BodySchema root;
    root.Optional("ids", FieldType::kArray, {.min = 1, .max = kMaxReplayIds, .items = FieldType::kInteger});
    return root;
  }();
  return kSchema;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// "" for no filter; a filter that does not parse is a 400 naming the column.
std::string CheckedFilter(const nlohmann::json& body) {
  if (!body.contains("filter") || body["filter"].is_null()) {
    return "";
  }
  std::string filter = body["filter"].get<std::string>();
  if (filter.find_first_not_of(" \t\r\n") == std::string::npos) {
    return "";
  }
  auto parsed = expr::Parse(filter);
  if (!parsed.ok()) {
    const std::string message = parsed.error->Describe();
    throw ApiError::BadRequest("filter: " + message, {ErrorItem{"/filter", 0, message}});
  }
  return filter;
}

// True when `url` starts with one of `schemes` ("http://", ...), names a host, and is printable ASCII
// without spaces.
bool PlausibleUrl(const std::string& url, std::initializer_list<std::string_view> schemes) {
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) {
      return false;
    }
  }
  for (std::string_view scheme : schemes) {
    if (url.rfind(scheme, 0) != 0) {
      continue;
    }
    std::string rest = url.substr(scheme.size());
    const auto at = rest.find('@');  // user:password@host
    if (at != std::string::npos && at < rest.find('/')) {
      rest = rest.substr(at + 1);
    }
    return !rest.empty() && rest[0] != '/' && rest[0] != ':';
  }
  return false;
}

// An MQTT topic to publish to: no wildcards, not a $ topic, no empty text or NUL.
bool PublishableTopic(const std::string& topic) {
  return !topic.empty() && topic[0] != '$' &&
         topic.find_first_of(std::string("+#\0", 3)) == std::string::npos;
}

// The URL as answered: an AMQP URL's password left out ("amqp://user@host/vhost").
std::string UrlWithoutPassword(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    return url;
  }
  const auto start = scheme + 3;
  const auto at = url.find('@', start);
  const auto slash = url.find('/', start);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) {
    return url;
  }
  const auto colon = url.find(':', start);
  if (colon == std::string::npos || colon > at) {
    return url;
  }
  return url.substr(0, colon) + url.substr(at);
}

bool UrlHasPassword(const std::string& url) { return UrlWithoutPassword(url) != url; }

// A destination's own CA certificates (PEM) for a TLS URL of AMQP and MQTT destinations: only with amqps://,
// mqtts:// or ssl://, and only PEM certificates (the forwarder reports a certificate OpenSSL refuses).
// Webhooks trust the system's CAs.
std::optional<ErrorItem> CaProblem(const nlohmann::json& d, const std::string& pointer,
                                   const std::string& type, const std::string& url) {
  if (!d.contains("ca")) {
    return std::nullopt;
  }
  if (type == "webhook") {
    return ErrorItem{pointer + "/ca", 0, "a webhook trusts the system's CAs (no ca)"};
  }
  const std::string& ca = d["ca"].get_ref<const std::string&>();
  if (url.rfind("amqps://", 0) != 0 && url.rfind("mqtts://", 0) != 0 && url.rfind("ssl://", 0) != 0) {
    return ErrorItem{pointer + "/ca", 0, "a CA is for a TLS URL (amqps://, mqtts://)"};
  }
  if (ca.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return ErrorItem{pointer + "/ca", 0, "PEM certificates (-----BEGIN CERTIFICATE-----) are required"};
  }
  return std::nullopt;
}

// The destinations as stored (secrets included): webhook {url, secret?}, amqp {url, exchange, ca?}, mqtt
// {url, topic, username?, password?, ca?}.
std::string CheckedDestinations(const nlohmann::json& list) {
  std::vector<ErrorItem> errors;
  nlohmann::json out = nlohmann::json::array();
  auto text = [](const nlohmann::json& d, const char* key) {
    return d.contains(key) ? d[key].get<std::string>() : std::string();
  };
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& d = list[i];
    const std::string pointer = "/destinations/" + std::to_string(i);
    const std::string type = d["type"].get<std::string>();
    const std::string url = text(d, "url");
    nlohmann::json stored = {{"type", type}, {"url", url}};
    if (type == "webhook") {
      if (!PlausibleUrl(url, {"http://", "https://"})) {
        errors.push_back({pointer + "/url", 0, "an http:// or https:// URL with a host is required"});
        continue;
      }
      if (!text(d, "secret").empty()) {
        stored["secret"] = d["secret"];
      }
    } else if (type == "amqp") {
      if (!PlausibleUrl(url, {"amqp://", "amqps://"})) {
        errors.push_back({pointer + "/url", 0, "an amqp:// or amqps:// URL with a host is required"});
        continue;
      }
      const std::string exchange = text(d, "exchange");
      if (exchange.empty()) {
        errors.push_back({pointer + "/exchange", 0, "the exchange to publish to is required"});
        continue;
      }
      stored["exchange"] = exchange;
    } else if (type == "mqtt") {
      if (!PlausibleUrl(url, {"mqtt://", "mqtts://", "tcp://", "ssl://"}) ||
          url.find('@') != std::string::npos) {
        errors.push_back({pointer + "/url", 0,
                          "an mqtt:// or mqtts:// URL with a host is required (credentials go in username "
                          "and password)"});
        continue;
      }
      const std::string topic = text(d, "topic");
      if (!PublishableTopic(topic)) {
        errors.push_back(
            {pointer + "/topic", 0, "a topic to publish to is required (no wildcards, no $ topic)"});
        continue;
      }
      stored["topic"] = topic;
      if (!text(d, "username").empty()) {
        stored["username"] = d["username"];
      }
      if (!text(d, "password").empty()) {
        stored["password"] = d["password"];
      }
    }
    if (auto problem = CaProblem(d, pointer, type, url)) {
      errors.push_back(std::move(*problem));
      continue;
    }
    if (d.contains("ca")) {
      stored["ca"] = d["ca"];
    }
    out.push_back(std::move(stored));
  }
  if (!errors.empty()) {
    throw ApiError::BadRequest("invalid destinations", std::move(errors));
  }
  return out.dump();
}

// Alarm changes, OTA results and device lifecycle are written to the outbox by the database (019_alarms.sql,
// 020_ota_forwarding.sql, 021_lifecycle_forwarding.sql), which cannot evaluate a filter: a rule that
// forwards them takes none.
void RefuseDatabaseKindFilter(const std::vector<std::string>& kinds, const std::string& filter) {
  if (!filter.empty() &&
      (Contains(kinds, "alarm") || Contains(kinds, "ota") || Contains(kinds, "lifecycle"))) {
    const std::string message = "a rule of kind alarm, ota or lifecycle takes no filter";
    throw ApiError::BadRequest("filter: " + message, {ErrorItem{"/filter", 0, message}});
  }
}

std::vector<std::string> CheckedKinds(const nlohmann::json& kinds) {
  std::vector<std::string> out;
  std::vector<ErrorItem> errors;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const std::string kind = kinds[i].get<std::string>();
    const std::string pointer = "/source/kinds/" + std::to_string(i);
    if (!Contains(kKinds, kind)) {
      errors.push_back({pointer, 0,
                        "unknown kind \"" + kind +
                            "\" (property, event, history, status, reply, message, alarm, ota, lifecycle)"});
    } else if (!Contains(out, kind)) {
      out.push_back(kind);
    }
  }
  if (!errors.empty()) {
    throw ApiError::BadRequest("invalid source kinds", std::move(errors));
  }
  return out;
}

nlohmann::json RuleJson(const store::ForwardRule& rule) {
  nlohmann::json destinations = nlohmann::json::array();
  auto stored = nlohmann::json::parse(rule.destinations_json, nullptr, false);
  if (stored.is_array()) {
    for (auto d : stored) {
      if (!d.is_object()) {
        continue;
      }
      const std::string url = d.value("url", "");
      const bool has_secret = d.contains("secret") || d.contains("password") ||
                              (d.value("type", "") == "amqp" && UrlHasPassword(url));
      d.erase("secret");
      d.erase("password");
      if (d.value("type", "") == "amqp") {
        d["url"] = UrlWithoutPassword(url);
      }
      d["hasSecret"] = has_secret;
      destinations.push_back(std::move(d));
    }
  }
  return {{"id", rule.id},
          {"name", rule.name},
          {"enabled", rule.enabled},
          {"source",
           {{"productKey", rule.product_key ? nlohmann::json(*rule.product_key) : nlohmann::json(nullptr)},
            {"kinds", rule.kinds}}},
          {"filter", rule.filter.empty() ? nlohmann::json(nullptr) : nlohmann::json(rule.filter)},
          {"destinations", std::move(destinations)},
          {"includeDeviceSecret", rule.include_device_secret},
          {"createdAt", rule.created_at},
          {"updatedAt", rule.updated_at},
          {"createdBy", rule.created_by}};
}

// The {ruleId} path parameter; anything but a positive integer names no rule.
std::int64_t RuleIdParam(const Request& request) {
  const std::string& text = request.Param("ruleId");
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw ApiError::NotFound("no such rule: " + text);
  }
  const std::int64_t id = std::stoll(text);
  if (id <= 0) {
    throw ApiError::NotFound("no such rule: " + text);
  }
  return id;
}

std::string RuleWhat(std::int64_t id) { return "no such rule: " + std::to_string(id); }

void CreateRule(HandlerContext& context, Request&& request, Respond respond) {
  nlohmann::json body = ParseJsonBody(request, CreateSchema());
  store::ForwardRuleCreate create;
  create.name = body["name"].get<std::string>();
  create.enabled = body.value("enabled", true);
  const auto& source = body["source"];
  if (source.contains("productKey") && !source["productKey"].is_null()) {
    std::string pk = source["productKey"].get<std::string>();
    if (!IsValidProductKey(pk)) {
      throw ApiError::BadRequest("source.productKey: 4-32 letters and digits",
                                 {ErrorItem{"/source/productKey", 0, "4-32 letters and digits"}});
    }
    create.product_key = std::move(pk);
  }
  create.kinds = CheckedKinds(source["kinds"]);
  create.filter = CheckedFilter(body);
  RefuseDatabaseKindFilter(create.kinds, create.filter);
  create.destinations_json = CheckedDestinations(body["destinations"]);
  create.include_device_secret = body.value("includeDeviceSecret", false);
  create.created_by = request.principal ? request.principal->name : "";
  RunOnDb(context.pool, respond, [request = std::move(request), create](store::Db& db) {
    store::ForwardRule rule = Unwrap(store::CreateForwardRule(db, create));
    Audit(db, request, "rule.create", std::to_string(rule.id), {{"name", rule.name}});
    return JsonOk(201, RuleJson(rule));
  });
}

void ListRules(HandlerContext& context, Request&& /*request*/, Respond respond) {
  RunOnDb(context.pool, respond, [](store::Db& db) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& rule : Unwrap(store::ListForwardRules(db))) {
      items.push_back(RuleJson(rule));
    }
    Response response;
    response.status = 200;
    response.content_type = "application/json";
    response.body = ListBody(items, std::nullopt);
    return response;
  });
}

void GetRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = RuleIdParam(request);
  RunOnDb(context.pool, respond, [id](store::Db& db) {
    return JsonOk(200, RuleJson(Unwrap(store::GetForwardRule(db, id), RuleWhat(id))));
  });
}

void PatchRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = RuleIdParam(request);
  nlohmann::json body = ParseJsonBody(request, PatchSchema());
  store::ForwardRulePatch patch;
  if (body.contains("name")) {
    patch.name = body["name"].get<std::string>();
  }
  if (body.contains("enabled")) {
    patch.enabled = body["enabled"].get<bool>();
  }
  if (body.contains("filter")) {
    patch.filter = CheckedFilter(body);
  }
  if (body.contains("destinations")) {
    patch.destinations_json = CheckedDestinations(body["destinations"]);
  }
  if (body.contains("includeDeviceSecret")) {
    patch.include_device_secret = body["includeDeviceSecret"].get<bool>();
  }
  RunOnDb(context.pool, respond, [request = std::move(request), id, patch, body](store::Db& db) {
    if (patch.filter) {
      RefuseDatabaseKindFilter(Unwrap(store::GetForwardRule(db, id), RuleWhat(id)).kinds, *patch.filter);
    }
    store::ForwardRule rule = Unwrap(store::PatchForwardRule(db, id, patch), RuleWhat(id));
    nlohmann::json changed = nlohmann::json::array();
    for (const auto& [key, value] : body.items()) {
      changed.push_back(key);
    }
    Audit(db, request, "rule.update", std::to_string(id), {{"fields", changed}});
    return JsonOk(200, RuleJson(rule));
  });
}

void DeleteRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = RuleIdParam(request);
  RunOnDb(context.pool, respond, [request = std::move(request), id](store::Db& db) {
    Unwrap(store::DeleteForwardRule(db, id), RuleWhat(id));
    Audit(db, request, "rule.delete", std::to_string(id));
    Response response;
    response.status = 204;
    return response;
  });
}

void GetRuleStatus(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = RuleIdParam(request);
  RunOnDb(context.pool, respond, [id](store::Db& db) {
    store::ForwardStatus s = Unwrap(store::GetForwardStatus(db, id), RuleWhat(id));
    return JsonOk(200, {{"ruleId", id},
                        {"delivered", s.delivered},
                        {"failed", s.failed},
                        {"deadLettered", s.dead},
                        {"deadLetters", s.dead_letters},
                        {"attempts", s.attempts},
                        {"lastError", NullIfEmpty(s.last_error)},
                        {"lastDeliveredAt", TimeOrNull(s.last_delivered_at)},
                        {"failingSince", TimeOrNull(s.failing_since)},
                        {"lagMessages", s.lag_messages},
                        {"lagSeconds", s.lag_seconds}});
  });
}

void ListRuleDeadLetters(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = RuleIdParam(request);
  ListParams params = ParseListParams(request);
  store::PageQuery page{.limit = params.limit, .cursor = UnwrapCursor(kDeadLetterCursor, params.cursor)};
  RunOnDb(context.pool, respond, [id, page](store::Db& db) {
    auto letters = Unwrap(store::ListDeadLetters(db, id, page), RuleWhat(id));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& d : letters.items) {
      items.push_back({{"id", d.id},
                       {"messageId", d.message_id},
                       {"kind", d.kind},
                       {"topic", d.topic},
                       {"productKey", d.product_key},
                       {"deviceName", d.device_name},
                       {"iotId", d.iot_id},
                       {"payload", JsonValue(d.payload_json)},
                       {"createdAt", d.created_at},
                       {"attempts", d.attempts},
                       {"error", d.error},
                       {"deadAt", d.dead_at}});
    }
    Response response;
    response.status = 200;
    response.content_type = "application/json";
    response.body = ListBody(items, WrapCursor(kDeadLetterCursor, letters.next_cursor));
    return response;
  });
}

void ReplayRuleDeadLetters(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = RuleIdParam(request);
  std::optional<std::vector<std::int64_t>> ids;
  if (!request.body.empty()) {
    nlohmann::json body = ParseJsonBody(request, ReplaySchema());
    if (body.contains("ids")) {
      ids = body["ids"].get<std::vector<std::int64_t>>();
    }
  }
  RunOnDb(context.pool, respond, [request = std::move(request), id, ids](store::Db& db) {
    const std::int64_t replayed = Unwrap(store::ReplayDeadLetters(db, id, ids), RuleWhat(id));
    Audit(db, request, "rule.replay", std::to_string(id), {{"replayed", replayed}});
    return JsonOk(200, {{"replayed", replayed}});
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/rules", kAdmin, CreateRule},
    {"GET", "/api/v1/rules", kAdmin, ListRules},
    {"GET", "/api/v1/rules/{ruleId}", kAdmin, GetRule},
    {"PATCH", "/api/v1/rules/{ruleId}", kAdmin, PatchRule},
    {"DELETE", "/api/v1/rules/{ruleId}", kAdmin, DeleteRule},
    {"GET", "/api/v1/rules/{ruleId}/status", kAdmin, GetRuleStatus},
    {"GET", "/api/v1/rules/{ruleId}/dead-letters", kAdmin, ListRuleDeadLetters},
    {"POST", "/api/v1/rules/{ruleId}/dead-letters:replay", kAdmin, ReplayRuleDeadLetters},
};

}  // namespace

void AddRuleRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

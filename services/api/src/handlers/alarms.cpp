// Alarms over REST: a product's alarm rules (admin) and the alarms they raise (list for every role,
// acknowledge and clear for operators). Conditions are in the forwarding rules' expression language
// (libs/expr); the gateway evaluates them on the data path (iot/store/alarms.hpp, 019_alarms.sql).
#include "iot/store/alarms.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/expr/expr.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kAlarmCursor = "alarms";
constexpr int kMaxForS = 86400;
const std::vector<std::string> kSeverities = {"info", "minor", "major", "critical"};
const std::vector<std::string> kStates = {"active", "acknowledged", "cleared", "open"};

const BodySchema& CreateSchema() {
  static const BodySchema kSchema = [] {
    BodySchema root;
    root.Required("name", FieldType::kString, {.min = 1, .max = 128})
        .Required("severity", FieldType::kString, {.one_of = kSeverities})
        .Optional("enabled", FieldType::kBoolean)
        .Optional("when", FieldType::kString, {.max = 4096})
        .Optional("forS", FieldType::kInteger, {.min = 0, .max = double(kMaxForS)})
        .Optional("clearWhen", FieldType::kString, {.nullable = true, .max = 4096})
        .Optional("event", FieldType::kString, {.min = 1, .max = 128});
    return root;
  }();
  return kSchema;
}

const BodySchema& PatchSchema() {
  static const BodySchema kSchema = CreateSchema().AsPatch();
  return kSchema;
}

bool Blank(const std::string& text) { return text.find_first_not_of(" \t\r\n") == std::string::npos; }

// A condition that parses, else a 400 naming the field and the column.
std::string CheckedCondition(const nlohmann::json& body, const std::string& field) {
  std::string text = body[field].get<std::string>();
  if (Blank(text)) {
    throw ApiError::BadRequest(field + ": a condition is required", {ErrorItem{"/" + field, 0, "empty"}});
  }
  auto parsed = expr::Parse(text);
  if (!parsed.ok()) {
    const std::string message = parsed.error->Describe();
    throw ApiError::BadRequest(field + ": " + message, {ErrorItem{"/" + field, 0, message}});
  }
  return text;
}

// An event identifier as thing models write them ("module:Id" included), or "alert" / "error".
std::string CheckedEvent(const nlohmann::json& body) {
  std::string event = body["event"].get<std::string>();
  bool ok = !event.empty() && (std::isalpha(static_cast<unsigned char>(event[0])) != 0 || event[0] == '_');
  for (unsigned char c : event) {
    ok = ok && (std::isalnum(c) != 0 || c == '_' || c == ':');
  }
  if (!ok) {
    throw ApiError::BadRequest("event: an event identifier, \"alert\" or \"error\"",
                               {ErrorItem{"/event", 0, "an event identifier, \"alert\" or \"error\""}});
  }
  return event;
}

// Exactly one of a condition and an event; forS and clearWhen only with a condition.
void CheckShape(bool has_when, bool has_event, bool has_condition_options) {
  if (has_when == has_event) {
    throw ApiError::BadRequest("a rule has either a condition (when) or an event",
                               {ErrorItem{"", 0, "give either \"when\" or \"event\""}});
  }
  if (has_event && has_condition_options) {
    throw ApiError::BadRequest("forS and clearWhen apply to a condition, not to an event",
                               {ErrorItem{"", 0, "forS and clearWhen need \"when\""}});
  }
}

nlohmann::json RuleJson(const store::AlarmRule& r) {
  nlohmann::json out = {{"id", r.id},
                        {"productKey", r.product_key},
                        {"name", r.name},
                        {"severity", r.severity},
                        {"enabled", r.enabled},
                        {"createdAt", r.created_at},
                        {"updatedAt", r.updated_at},
                        {"createdBy", r.created_by}};
  if (!r.event.empty()) {
    out["event"] = r.event;
  } else {
    out["when"] = r.when;
    out["forS"] = r.for_s;
    out["clearWhen"] = NullIfEmpty(r.clear_when);
  }
  return out;
}

nlohmann::json OptionalText(const std::optional<std::string>& text) {
  return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
}

nlohmann::json AlarmJson(const store::Alarm& a) {
  return {{"id", a.id},
          {"rule", a.rule},
          {"ruleId", a.rule_id},
          {"productKey", a.product_key},
          {"deviceName", a.device_name},
          {"severity", a.severity},
          {"state", a.state},
          {"count", a.count},
          {"raisedAt", a.raised_at},
          {"ackedAt", TimeOrNull(a.acked_at)},
          {"ackedBy", OptionalText(a.acked_by)},
          {"clearedAt", TimeOrNull(a.cleared_at)},
          {"clearedBy", OptionalText(a.cleared_by)},
          {"lastValue", JsonValue(a.last_value_json)}};
}

// A positive integer path parameter; anything else names nothing (404).
std::int64_t IdParam(const Request& request, const std::string& name, const std::string& what) {
  const std::string& text = request.Param(name);
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(text) <= 0) {
    throw ApiError::NotFound("no such " + what + ": " + text);
  }
  return std::stoll(text);
}

std::string Who(const Request& request) { return request.principal ? request.principal->name : ""; }

void CreateAlarmRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, CreateSchema());
  store::AlarmRule rule;
  rule.product_key = pk;
  rule.name = body["name"].get<std::string>();
  rule.severity = body["severity"].get<std::string>();
  rule.enabled = body.value("enabled", true);
  const bool has_clear = body.contains("clearWhen") && !body["clearWhen"].is_null() &&
                         !Blank(body["clearWhen"].get<std::string>());
  CheckShape(body.contains("when"), body.contains("event"), body.contains("forS") || has_clear);
  if (body.contains("when")) {
    rule.when = CheckedCondition(body, "when");
    rule.for_s = body.value("forS", 0);
    if (has_clear) {
      rule.clear_when = CheckedCondition(body, "clearWhen");
    }
  } else {
    rule.event = CheckedEvent(body);
  }
  rule.created_by = Who(request);
  RunOnDb(context.pool, respond, [request = std::move(request), rule, pk](store::Db& db) {
    store::AlarmRule created = Unwrap(store::CreateAlarmRule(db, rule), "no such product: " + pk);
    Audit(db, request, "alarmRule.create", std::to_string(created.id),
          {{"productKey", pk}, {"name", created.name}});
    return JsonOk(201, RuleJson(created));
  });
}

void ListAlarmRules(HandlerContext& context, Request&& request, Respond respond) {
  const std::string pk = ProductKeyParam(request);
  RunOnDb(context.pool, respond, [pk](store::Db& db) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& rule : Unwrap(store::ListAlarmRules(db, pk))) {
      items.push_back(RuleJson(rule));
    }
    Response response;
    response.status = 200;
    response.content_type = "application/json";
    response.body = ListBody(items, std::nullopt);
    return response;
  });
}

void GetAlarmRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::string pk = ProductKeyParam(request);
  const std::int64_t id = IdParam(request, "ruleId", "alarm rule");
  RunOnDb(context.pool, respond, [pk, id](store::Db& db) {
    return JsonOk(
        200, RuleJson(Unwrap(store::GetAlarmRule(db, pk, id), "no such alarm rule: " + std::to_string(id))));
  });
}

void PatchAlarmRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::string pk = ProductKeyParam(request);
  const std::int64_t id = IdParam(request, "ruleId", "alarm rule");
  nlohmann::json body = ParseJsonBody(request, PatchSchema());
  if (body.contains("when") && body.contains("event")) {
    CheckShape(true, true, false);
  }
  store::AlarmRulePatch patch;
  if (body.contains("name")) {
    patch.name = body["name"].get<std::string>();
  }
  if (body.contains("severity")) {
    patch.severity = body["severity"].get<std::string>();
  }
  if (body.contains("enabled")) {
    patch.enabled = body["enabled"].get<bool>();
  }
  if (body.contains("when")) {
    patch.when = CheckedCondition(body, "when");
    patch.event = "";  // a condition replaces an event
  }
  if (body.contains("forS")) {
    patch.for_s = body["forS"].get<int>();
  }
  if (body.contains("clearWhen")) {
    const bool blank = body["clearWhen"].is_null() || Blank(body["clearWhen"].get<std::string>());
    patch.clear_when = blank ? std::string() : CheckedCondition(body, "clearWhen");
  }
  if (body.contains("event")) {
    patch.event = CheckedEvent(body);
    if (patch.for_s.value_or(0) != 0 || !patch.clear_when.value_or("").empty()) {
      CheckShape(false, true, true);
    }
    patch.when = "";  // an event replaces a condition
    patch.for_s = 0;
    patch.clear_when = "";
  }
  RunOnDb(context.pool, respond, [request = std::move(request), pk, id, patch, body](store::Db& db) {
    const std::string what = "no such alarm rule: " + std::to_string(id);
    if (!body.contains("when") && !body.contains("event") &&
        (body.contains("forS") || body.contains("clearWhen"))) {
      // forS and clearWhen alone: only on a condition rule.
      if (!Unwrap(store::GetAlarmRule(db, pk, id), what).event.empty()) {
        CheckShape(false, true, true);
      }
    }
    store::AlarmRule rule = Unwrap(store::PatchAlarmRule(db, pk, id, patch), what);
    nlohmann::json changed = nlohmann::json::array();
    for (const auto& [key, value] : body.items()) {
      changed.push_back(key);
    }
    Audit(db, request, "alarmRule.update", std::to_string(id), {{"productKey", pk}, {"fields", changed}});
    return JsonOk(200, RuleJson(rule));
  });
}

void DeleteAlarmRule(HandlerContext& context, Request&& request, Respond respond) {
  const std::string pk = ProductKeyParam(request);
  const std::int64_t id = IdParam(request, "ruleId", "alarm rule");
  RunOnDb(context.pool, respond, [request = std::move(request), pk, id](store::Db& db) {
    Unwrap(store::DeleteAlarmRule(db, pk, id), "no such alarm rule: " + std::to_string(id));
    Audit(db, request, "alarmRule.delete", std::to_string(id), {{"productKey", pk}});
    Response response;
    response.status = 204;
    return response;
  });
}

void ListAlarms(HandlerContext& context, Request&& request, Respond respond) {
  ListParams params = ParseListParams(request);
  store::AlarmQuery query;
  std::vector<ErrorItem> problems;
  if (auto pk = request.Query("productKey")) {
    if (!IsValidProductKey(*pk)) {
      problems.push_back({"", 0, "query parameter productKey: 4-32 letters and digits"});
    }
    query.product_key = std::string(*pk);
  }
  if (auto dn = request.Query("deviceName")) {
    if (!IsValidDeviceName(*dn)) {
      problems.push_back({"", 0, "query parameter deviceName: 4-32 of letters, digits and -_@.:"});
    }
    query.device_name = std::string(*dn);
  }
  if (auto severity = request.Query("severity")) {
    if (std::find(kSeverities.begin(), kSeverities.end(), *severity) == kSeverities.end()) {
      problems.push_back({"", 0, "query parameter severity must be info, minor, major or critical"});
    }
    query.severity = std::string(*severity);
  }
  if (auto state = request.Query("state")) {
    if (std::find(kStates.begin(), kStates.end(), *state) == kStates.end()) {
      problems.push_back({"", 0, "query parameter state must be active, acknowledged, cleared or open"});
    }
    query.state = std::string(*state);
  }
  if (!problems.empty()) {
    const std::string detail = problems.front().message;
    throw ApiError::BadRequest(detail, std::move(problems));
  }
  query.page = {.limit = params.limit, .cursor = UnwrapCursor(kAlarmCursor, params.cursor)};
  RunOnDb(context.pool, respond, [query](store::Db& db) {
    auto page = Unwrap(store::ListAlarms(db, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& a : page.items) {
      items.push_back(AlarmJson(a));
    }
    Response response;
    response.status = 200;
    response.content_type = "application/json";
    response.body = ListBody(items, WrapCursor(kAlarmCursor, page.next_cursor));
    return response;
  });
}

void GetAlarm(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = IdParam(request, "alarmId", "alarm");
  RunOnDb(context.pool, respond, [id](store::Db& db) {
    return JsonOk(200, AlarmJson(Unwrap(store::GetAlarm(db, id), "no such alarm: " + std::to_string(id))));
  });
}

void AckAlarm(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = IdParam(request, "alarmId", "alarm");
  RunOnDb(context.pool, respond, [request = std::move(request), id](store::Db& db) {
    auto result = store::AckAlarm(db, id, Who(request));
    if (!result && store::Is(result.error(), store::Errc::kNotFound)) {
      throw StoreError(result.error(), "no such alarm: " + std::to_string(id));
    }
    auto alarm = Unwrap(std::move(result), "alarm " + std::to_string(id) + " is cleared");
    Audit(db, request, "alarm.ack", std::to_string(id));
    return JsonOk(200, AlarmJson(alarm));
  });
}

void ClearAlarm(HandlerContext& context, Request&& request, Respond respond) {
  const std::int64_t id = IdParam(request, "alarmId", "alarm");
  RunOnDb(context.pool, respond, [request = std::move(request), id](store::Db& db) {
    auto result = store::ClearAlarm(db, id, Who(request));
    if (!result && store::Is(result.error(), store::Errc::kNotFound)) {
      throw StoreError(result.error(), "no such alarm: " + std::to_string(id));
    }
    auto alarm = Unwrap(std::move(result), "alarm " + std::to_string(id) + " is cleared already");
    Audit(db, request, "alarm.clear", std::to_string(id));
    return JsonOk(200, AlarmJson(alarm));
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products/{pk}/alarm-rules", kAdmin, CreateAlarmRule},
    {"GET", "/api/v1/products/{pk}/alarm-rules", kAdmin, ListAlarmRules},
    {"GET", "/api/v1/products/{pk}/alarm-rules/{ruleId}", kAdmin, GetAlarmRule},
    {"PATCH", "/api/v1/products/{pk}/alarm-rules/{ruleId}", kAdmin, PatchAlarmRule},
    {"DELETE", "/api/v1/products/{pk}/alarm-rules/{ruleId}", kAdmin, DeleteAlarmRule},
    {"GET", "/api/v1/alarms", kViewer, ListAlarms},
    {"GET", "/api/v1/alarms/{alarmId}", kViewer, GetAlarm},
    {"POST", "/api/v1/alarms/{alarmId}:ack", kOperator, AckAlarm},
    {"POST", "/api/v1/alarms/{alarmId}:clear", kOperator, ClearAlarm},
};

}  // namespace

void AddAlarmRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

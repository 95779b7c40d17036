// /api/v1/audit: who changed what and when (admin only).
#include "iot/store/audit.hpp"

#include "handlers/common.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kCursorKind = "audit";

nlohmann::json AuditJson(const store::AuditEntry& entry) {
  nlohmann::json details = JsonValue(entry.detail_json);
  if (details.is_object() && details.empty()) {
    details = nullptr;
  }
  return {{"time", entry.at},
          {"actor", entry.actor},
          {"action", entry.action},
          {"target", entry.target},
          {"details", details}};
}

void ListAudit(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  store::TimeQuery query = ToTimeQuery(ParseListParams(request, true), kCursorKind);
  RunOnDb(pool, respond, [query](store::Db& db) {
    auto page = Unwrap(store::ListAudit(db, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& entry : page.items) {
      items.push_back(AuditJson(entry));
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kCursorKind, page.next_cursor)));
  });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/audit", kAdmin, ListAudit},
};

}  // namespace

void AddAuditRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

#include "handlers/common.hpp"

#include <algorithm>
#include <chrono>

#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/audit.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/product_config.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.handlers";

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

void RunOnDbLater(store::DbPool& pool, Respond respond, std::function<void(store::Db&, Respond)> work) {
  const bool queued = pool.Submit([respond, work = std::move(work)](store::Db& db) {
    try {
      work(db, respond);
    } catch (const ApiError& error) {
      respond(ToResponse(error));
    } catch (const std::exception& e) {
      IOT_LOG_ERROR(kLog, "msg=\"handler failed on the DB pool\" what=" << log::Quote(e.what()));
      respond(ToResponse(ApiError::Internal("internal error")));
    }
  });
  if (!queued) {
    ApiError busy = ApiError::Unavailable("the database queue is full, retry later");
    busy.headers.emplace_back("Retry-After", "1");
    respond(ToResponse(busy));
  }
}

void RunOnDb(store::DbPool& pool, Respond respond, std::function<Response(store::Db&)> work) {
  RunOnDbLater(pool, std::move(respond),
               [work = std::move(work)](store::Db& db, Respond done) { done(work(db)); });
}

std::string UrlSigningKey(HandlerContext& context, store::Db& db) {
  RemoteConfigState& state = *context.remote_config;
  {
    std::lock_guard lock(state.mutex);
    if (state.url_key) {
      return *state.url_key;
    }
  }
  std::string key = Unwrap(store::EnsureUrlSigningKey(db, store::kDownloadKeyName));
  std::lock_guard lock(state.mutex);
  state.url_key = key;
  return key;
}

std::optional<std::string> CachedUrlSigningKey(HandlerContext& context) {
  std::lock_guard lock(context.remote_config->mutex);
  return context.remote_config->url_key;
}

ApiError StoreError(const boost::system::error_code& ec, std::string_view what) {
  ApiError error = FromErrorCode(ec);
  if (!what.empty() && (error.status == 404 || error.status == 409)) {
    error.detail = std::string(what);
  }
  if (error.status >= 500) {
    IOT_LOG_WARN(kLog, "msg=\"store call failed\" error=" << log::Quote(ec.message()));
  }
  return error;
}

bool IsValidProductKey(std::string_view text) {
  return text.size() >= 4 && text.size() <= 32 && std::all_of(text.begin(), text.end(), IsAlnum);
}

bool IsValidDeviceName(std::string_view text) {
  return text.size() >= 4 && text.size() <= 32 && std::all_of(text.begin(), text.end(), [](char c) {
           return IsAlnum(c) || c == '-' || c == '_' || c == '@' || c == '.' || c == ':';
         });
}

const std::string& ProductKeyParam(const Request& request) {
  const std::string& pk = request.Param("pk");
  if (!IsValidProductKey(pk)) {
    throw ApiError::NotFound("no such product: " + pk);
  }
  return pk;
}

const std::string& DeviceNameParam(const Request& request) {
  const std::string& dn = request.Param("dn");
  if (!IsValidDeviceName(dn)) {
    throw ApiError::NotFound("no such device: " + dn);
  }
  return dn;
}

store::AuditRecord AuditRecordFor(const Request& request, std::string action, std::string target,
                                  const nlohmann::json& detail) {
  store::AuditRecord record;
  record.actor = request.principal ? request.principal->name : "";
  record.action = std::move(action);
  record.target = std::move(target);
  record.detail_json = detail.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return record;
}

void Audit(store::Db& db, const Request& request, std::string action, std::string target,
           const nlohmann::json& detail) {
  store::AuditRecord record = AuditRecordFor(request, std::move(action), std::move(target), detail);
  auto appended = store::AppendAudit(db, record);
  if (!appended) {
    IOT_LOG_ERROR(kLog, "msg=\"audit record lost\" action="
                            << log::Quote(record.action) << " target=" << log::Quote(record.target)
                            << " error=" << log::Quote(appended.error().message()));
  }
}

std::optional<std::string> WrapCursor(std::string_view kind, const std::optional<std::string>& store_cursor) {
  if (!store_cursor) {
    return std::nullopt;
  }
  return EncodeCursor(kind, nlohmann::json{{"c", *store_cursor}});
}

std::string UnwrapCursor(std::string_view kind, const std::optional<std::string>& api_cursor) {
  if (!api_cursor) {
    return {};
  }
  nlohmann::json fields = DecodeCursor(kind, *api_cursor);
  auto it = fields.find("c");
  if (it == fields.end() || !it->is_string()) {
    throw ApiError::BadRequest("invalid cursor: pass back nextCursor unchanged");
  }
  return it->get<std::string>();
}

store::TimeQuery ToTimeQuery(const ListParams& params, std::string_view cursor_kind) {
  store::TimeQuery query;
  query.from = params.from;
  query.to = params.to;
  query.order = params.order == SortOrder::kAsc ? store::Order::kAsc : store::Order::kDesc;
  query.limit = params.limit;
  query.cursor = UnwrapCursor(cursor_kind, params.cursor);
  return query;
}

nlohmann::json TimeOrNull(const std::optional<store::TimeMs>& time) {
  return time ? nlohmann::json(*time) : nlohmann::json(nullptr);
}

nlohmann::json JsonValue(const std::string& text) {
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? nlohmann::json(text) : value;
}

void AddRoutes(Router& router, HandlerContext& context, std::span<const RouteSpec> table) {
  for (const RouteSpec& route : table) {
    router.Add(route.method, route.pattern, route.options,
               [&context, handler = route.handler](Request&& request, Respond respond) {
                 handler(context, std::move(request), std::move(respond));
               });
  }
}

Response JsonOk(int status, const nlohmann::json& body) {
  return JsonResponse(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

nlohmann::json NullIfEmpty(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

nlohmann::json ServiceCallJson(const store::ServiceCall& c) {
  return {{"callId", c.call_id},
          {"identifier", c.identifier},
          {"callType", store::ToString(c.call_type)},
          {"params", JsonValue(c.params_json)},
          {"output", c.output_json ? JsonValue(*c.output_json) : nlohmann::json(nullptr)},
          {"status", store::ToString(c.status)},
          {"code", c.code ? nlohmann::json(*c.code) : nlohmann::json(nullptr)},
          {"message", NullIfEmpty(c.message)},
          {"requestedBy", c.requested_by},
          {"requestedAt", c.requested_at},
          {"sentAt", TimeOrNull(c.sent_at)},
          {"repliedAt", TimeOrNull(c.replied_at)},
          {"expiresAt", TimeOrNull(c.expires_at)}};
}

}  // namespace iot::api

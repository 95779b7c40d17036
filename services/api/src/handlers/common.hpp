#pragma once

// What every resource handler shares: running work on the DB pool, turning store results into
// ApiErrors (through the one mapping, FromErrorCode), path-parameter formats, audit records, paging.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http/problem.hpp"
#include "http/query.hpp"
#include "http/request.hpp"
#include "http/router.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/prometheus.hpp"
#include "iot/common/rate_limiter.hpp"
#include "iot/common/result.hpp"
#include "iot/script/script.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/pool.hpp"
#include "iot/store/types.hpp"

namespace iot::catalog {
class PublishedProducts;
}  // namespace iot::catalog

namespace iot::api {

// Dependencies of the resource handlers, built by the App (app.cpp).
class ControlService;
class MessageService;
class DryRunner;
class Downlink;
struct ControlError;

// What remote configuration (handlers/product_config.cpp) keeps between requests.
struct RemoteConfigState {
  std::mutex mutex;
  std::optional<std::string> url_key;       // the link-signing key (store::EnsureUrlSigningKey), loaded once
  DeviceRateLimiter pushes{0.2, 1, 10000};  // config:push per product: one per 5 s
};

struct HandlerContext {
  store::DbPool& pool;
  ControlService* control = nullptr;  // device control; null when no broker is configured (503)
  // Products' published models, parsed, kept current by notification (device control's cache when it
  // runs, else the App's ModelWatcher); null: load per request (tests that build a bare context).
  catalog::PublishedProducts* products = nullptr;
  Downlink* downlink = nullptr;        // the API's broker link (shadow control, config pushes); null: none
  MessageService* messages = nullptr;  // custom topics, broadcast, custom RRPC; null likewise (503)
  script::Limits script_limits;        // raw products' parsing scripts (script:test, saving)
  DryRunner* dry_runs = nullptr;       // thing-model dry runs; null: 503
  int registration_rate = 5;           // dynamic registrations per second per product (0 = unlimited)
  // Told about a token revoked here, before the DELETE answers (drops it from the token cache and
  // closes its open streams). May be empty.
  std::function<void(std::int64_t token_id)> token_revoked;
  // Expiry given to new tokens that name none (0 = never).
  std::int64_t default_token_ttl_ms = 0;
  // IOT_PUBLIC_BASE_URL without a trailing slash: the base of every link handed to a device
  // (registration, configuration and firmware downloads); never derived from a request's Host.
  std::string public_base_url;
  std::shared_ptr<RemoteConfigState> remote_config = std::make_shared<RemoteConfigState>();
  // Firmware packages (handlers/firmware.cpp): the largest upload (IOT_FIRMWARE_MAX_BYTES, the same
  // limit the transport streams up to), uploads running at once (each holds a DB worker while its body
  // arrives), and where downloads are counted (null: not counted in metrics).
  std::int64_t firmware_max_bytes = 256LL * 1024 * 1024;
  std::shared_ptr<std::atomic<int>> firmware_uploads = std::make_shared<std::atomic<int>>(0);
  metrics::Registry* metrics = nullptr;
};

// Runs `work` on a DB pool thread and completes `respond` with its Response. An ApiError thrown by
// `work` becomes its problem response, any other exception a 500. A full pool queue answers 503 at
// once (Retry-After: 1). Never blocks the calling (I/O) thread.
void RunOnDb(store::DbPool& pool, Respond respond, std::function<Response(store::Db&)> work);
// The same for work that answers later (e.g. when a device replies): `work` gets `respond` and calls it
// itself, now or from another thread. Exceptions thrown by `work` still become the problem response.
void RunOnDbLater(store::DbPool& pool, Respond respond, std::function<void(store::Db&, Respond)> work);

// Throws the ApiError FromErrorCode() maps the error to; `what` ("product a1B2c3") replaces the
// generic detail of 404 and 409 answers.
ApiError StoreError(const boost::system::error_code& ec, std::string_view what);
template <class T>
T Unwrap(Result<T>&& result, std::string_view what = {}) {
  if (!result) {
    throw StoreError(result.error(), what);
  }
  return std::move(*result);
}
inline void Unwrap(Result<void>&& result, std::string_view what = {}) {
  if (!result) {
    throw StoreError(result.error(), what);
  }
}

// productKey: 4-32 letters and digits. deviceName: 4-32 of letters, digits and -_@.:
bool IsValidProductKey(std::string_view text);
bool IsValidDeviceName(std::string_view text);
// Path parameters in a wrong format cannot name an existing resource: 404 without a DB round trip.
const std::string& ProductKeyParam(const Request& request);
const std::string& DeviceNameParam(const Request& request);

// Appends an audit record (who = the token's name, when = the database's clock). A failure is
// logged, not returned: the change itself is already committed.
void Audit(store::Db& db, const Request& request, std::string action, std::string target,
           const nlohmann::json& detail = nlohmann::json::object());
// The same record, for repository calls that append it in their own transaction.
store::AuditRecord AuditRecordFor(const Request& request, std::string action, std::string target,
                                  const nlohmann::json& detail = nlohmann::json::object());

// The store's opaque cursor wrapped into the API's (kind-checked, base64url) and back.
std::optional<std::string> WrapCursor(std::string_view kind, const std::optional<std::string>& store_cursor);
std::string UnwrapCursor(std::string_view kind, const std::optional<std::string>& api_cursor);

// A TimeQuery from the list parameters (from/to/order/limit/cursor).
store::TimeQuery ToTimeQuery(const ListParams& params, std::string_view cursor_kind);

// Epoch ms or null.
nlohmann::json TimeOrNull(const std::optional<store::TimeMs>& time);
// JSON text from the store as a value (text that is not JSON is returned as a string).
nlohmann::json JsonValue(const std::string& text);

// "" as null, anything else as a string.
nlohmann::json NullIfEmpty(const std::string& text);
// The ServiceCall document of the contract (device control and service-call reads).
nlohmann::json ServiceCallJson(const store::ServiceCall& call);

// Device control's (and messaging's) refusal as the API's problem, through the one mapping
// (FromErrorCode; StoreError for the store's errors); handlers/control.cpp.
ApiError ToApiError(const ControlError& failure);

// The link-signing key every instance shares (signed download links), loaded once on a DB pool thread
// and kept; CachedUrlSigningKey: the kept one, if already loaded (no database on the I/O thread).
std::string UrlSigningKey(HandlerContext& context, store::Db& db);
std::optional<std::string> CachedUrlSigningKey(HandlerContext& context);

// 201/200 JSON answers.
Response JsonOk(int status, const nlohmann::json& body);

// The role a route asks for (the rows of the route tables).
inline constexpr RouteOptions kAdmin{.min_role = Role::kAdmin};
inline constexpr RouteOptions kOperator{.min_role = Role::kOperator};
inline constexpr RouteOptions kViewer{.min_role = Role::kViewer};

// A named resource handler: the Handler of a route, with the dependencies every handler shares.
using ContextHandler = void (*)(HandlerContext& context, Request&& request, Respond respond);

// One row of a resource's route table (handlers/<resource>.cpp keeps one, next to its handlers).
struct RouteSpec {
  std::string_view method;
  std::string_view pattern;
  RouteOptions options;
  ContextHandler handler;
};

// Registers every route of `table`, each handler called with `context` (which outlives the router).
void AddRoutes(Router& router, HandlerContext& context, std::span<const RouteSpec> table);

// One AddXxxRoutes per resource (handlers/<resource>.cpp).
void AddTokenRoutes(Router& router, HandlerContext& context);
void AddAuditRoutes(Router& router, HandlerContext& context);
void AddProductRoutes(Router& router, HandlerContext& context);
void AddProductScriptRoutes(Router& router, HandlerContext& context);
void AddThingModelRoutes(Router& router, HandlerContext& context);
void AddThingModelChangeRoutes(Router& router, HandlerContext& context);
void AddDeviceRoutes(Router& router, HandlerContext& context);
void AddDeviceDataRoutes(Router& router, HandlerContext& context);
void AddControlRoutes(Router& router, HandlerContext& context);
void AddFleetRoutes(Router& router, HandlerContext& context);          // handlers/fleet.cpp
void AddRegistrationRoutes(Router& router, HandlerContext& context);   // handlers/registration.cpp
void AddShadowRoutes(Router& router, HandlerContext& context);         // handlers/shadow.cpp
void AddProductConfigRoutes(Router& router, HandlerContext& context);  // handlers/product_config.cpp
void AddMessageRoutes(Router& router, HandlerContext& context);        // handlers/messages.cpp
void AddOtaRoutes(Router& router, HandlerContext& context);            // handlers/ota.cpp
void AddFirmwareRoutes(Router& router, HandlerContext& context);       // handlers/firmware.cpp
void AddTopologyRoutes(Router& router, HandlerContext& context);       // handlers/topology.cpp
void AddRuleRoutes(Router& router, HandlerContext& context);           // handlers/rules.cpp
void AddAlarmRoutes(Router& router, HandlerContext& context);          // handlers/alarms.cpp

inline void AddResourceRoutes(Router& router, HandlerContext& context) {
  AddTokenRoutes(router, context);
  AddAuditRoutes(router, context);
  AddProductRoutes(router, context);
  AddProductScriptRoutes(router, context);
  AddThingModelRoutes(router, context);
  AddThingModelChangeRoutes(router, context);
  AddDeviceRoutes(router, context);
  AddDeviceDataRoutes(router, context);
  AddControlRoutes(router, context);
  AddFleetRoutes(router, context);
  AddRegistrationRoutes(router, context);
  AddShadowRoutes(router, context);
  AddProductConfigRoutes(router, context);
  AddMessageRoutes(router, context);
  AddOtaRoutes(router, context);
  AddFirmwareRoutes(router, context);
  AddTopologyRoutes(router, context);
  AddRuleRoutes(router, context);
  AddAlarmRoutes(router, context);
}

}  // namespace iot::api

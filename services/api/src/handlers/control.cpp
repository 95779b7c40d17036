// Device control: property set, service invocation (sync over RRPC, async with the offline queue) and
// desired properties. The state machine lives in control/ControlService; this file checks requests,
// the device's state and the caller's rate, and shapes the answers.
#include <map>
#include <utility>
#include <variant>

#include "control/control_service.hpp"
#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/common/codes.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"

namespace iot::api {
namespace {

constexpr std::int64_t kMaxTtlMs = 30LL * 24 * 3600 * 1000;
constexpr std::int64_t kDefaultTtlMs = 24LL * 3600 * 1000;
constexpr std::int64_t kMaxTimeoutMs = 30000;
constexpr std::size_t kMaxDesiredItems = 200;

const BodySchema& SetSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Required("params", FieldType::kObject)
          .Optional("ttlMs", FieldType::kInteger, {.min = 1, .max = double(kMaxTtlMs)});
  return kSchema;
}

const BodySchema& InvokeSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Optional("params", FieldType::kObject)
          .Optional("timeoutMs", FieldType::kInteger, {.min = 1, .max = double(kMaxTimeoutMs)})
          .Optional("ttlMs", FieldType::kInteger, {.min = 1, .max = double(kMaxTtlMs)})
          .Optional("rrpcForm", FieldType::kString, {.one_of = {"sys", "ext"}});
  return kSchema;
}

const BodySchema& DesiredSchema() {
  static const BodySchema kSchema = [] {
    auto versions = std::make_shared<BodySchema>();
    versions->Values(FieldType::kInteger, {.min = 0, .max = 2147483647});
    BodySchema root;
    root.Required("items", FieldType::kObject).Optional("versions", FieldType::kObject, {.object = versions});
    return root;
  }();
  return kSchema;
}

ControlService& Control(HandlerContext& context) {
  if (context.control == nullptr) {
    throw ApiError::Unavailable("device control is not configured (IOT_MQTT_HOST is not set)");
  }
  return *context.control;
}

// The device a command goes to: 404 unknown, 409 disabled.
store::Device CommandTarget(store::Db& db, const std::string& pk, const std::string& dn) {
  store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
  if (!device.enabled) {
    throw ApiError::Conflict("device " + pk + "/" + dn + " is disabled");
  }
  return device;
}

void CheckRate(ControlService& control, const store::Device& device) {
  if (!control.AllowCommand(device.id)) {
    ApiError error = ApiError::TooManyRequests("more commands for device " + device.device_name +
                                               " than its downlink rate allows, retry later");
    error.headers.emplace_back("Retry-After", "1");
    throw error;
  }
}

Response Accepted(const store::ServiceCall& call) { return JsonOk(202, ServiceCallJson(call)); }

const std::string& ServiceIdParam(const Request& request) {
  const std::string& id = request.Param("id");
  if (id.empty() || id.size() > 128) {
    throw ApiError::NotFound("no such service");
  }
  return id;
}

// Model problems as the request's errors, at `root` ("/params", or "/items" for desired properties).
std::vector<ErrorItem> ParamErrors(const std::vector<ParamProblem>& problems, std::string_view root) {
  std::vector<ErrorItem> errors;
  for (const auto& problem : problems) {
    std::string path(root);
    if (!problem.identifier.empty()) {
      path += "/" + JsonPointerEscape(problem.identifier);
    }
    errors.push_back({std::move(path), problem.code, problem.message});
  }
  return errors;
}

ApiError BadParams(std::vector<ErrorItem> errors, std::string_view plural) {
  std::string detail =
      errors.size() == 1 ? errors.front().message : std::to_string(errors.size()) + " " + std::string(plural);
  return ApiError::BadRequest(std::move(detail), std::move(errors));
}

// 400 listing every problem (paths under /params) unless the command matches the model.
void RequireValid(const ProductModel& model, const Command& command) {
  auto problems = ControlService::ValidateParams(model, command);
  if (!problems.empty()) {
    throw BadParams(ParamErrors(problems, "/params"), "invalid parameters");
  }
}

}  // namespace

// Device control's refusal as the API's problem: its status from the one mapping (FromErrorCode, or
// StoreError for the store's errors), its words, and the call's record when one was stored.
ApiError ToApiError(const ControlError& failure) {
  const bool refused = failure.code.category() == ControlErrorCategory();
  ApiError error = refused ? FromErrorCode(failure.code) : StoreError(failure.code, failure.detail);
  if (refused && !failure.detail.empty()) {
    error.detail = failure.detail;
  }
  if (!failure.problems.empty()) {
    error.errors = ParamErrors(failure.problems, "/params");
  }
  if (failure.call) {
    error.extra_members.emplace_back("serviceCall", ServiceCallJson(*failure.call).dump());
  }
  return error;
}

namespace {

// Runs device-control work with its ControlError turned into the API's.
template <class Work>
decltype(auto) Controlled(Work&& work) {
  try {
    return std::forward<Work>(work)();
  } catch (const ControlError& failure) {
    throw ToApiError(failure);
  }
}

// The answer to a finished sync call: 200 with the record when the device answered, else the problem.
Response SyncResponse(SyncOutcome&& outcome) {
  if (auto* failure = std::get_if<ControlError>(&outcome)) {
    return ToResponse(ToApiError(*failure));
  }
  return JsonOk(200, ServiceCallJson(std::get<store::ServiceCall>(outcome)));
}

void SetProperties(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, SetSchema());
  ControlService& control = Control(context);
  Command command;
  command.identifier = "set";
  command.params = body["params"];
  command.ttl_ms = body.value("ttlMs", kDefaultTtlMs);
  command.requested_by = request.principal ? request.principal->name : "";
  RunOnDb(context.pool, respond,
          [&control, request = std::move(request), pk, dn, command](store::Db& db) mutable {
            return Controlled([&] {
              store::Device device = CommandTarget(db, pk, dn);
              auto model = control.Model(db, pk);
              RequireValid(*model, command);
              CheckRate(control, device);
              command.audit =
                  AuditRecordFor(request, "device.property.set", pk + "/" + dn, {{"params", command.params}});
              return Accepted(control.Enqueue(db, device, command));
            });
          });
}

void InvokeService(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::string id = ServiceIdParam(request);
  nlohmann::json body = ParseJsonBody(request, InvokeSchema());
  ControlService& control = Control(context);
  Command command;
  command.identifier = id;
  command.params = body.value("params", nlohmann::json::object());
  command.ttl_ms = body.value("ttlMs", kDefaultTtlMs);
  command.timeout_ms = body.value("timeoutMs", std::int64_t{5000});
  command.ext_rrpc = body.value("rrpcForm", std::string("sys")) == "ext";
  command.requested_by = request.principal ? request.principal->name : "";
  // A sync call answers later, from the RRPC answer or the timer.
  RunOnDbLater(
      context.pool, respond,
      [&control, request = std::move(request), pk, dn, command](store::Db& db, Respond done) mutable {
        Controlled([&] {
          store::Device device = CommandTarget(db, pk, dn);
          auto model = control.Model(db, pk);
          const tsl::Service* service =
              model->model ? model->model->FindService(command.identifier) : nullptr;
          if (service == nullptr) {
            throw ApiError::NotFound("no service " + command.identifier + " in the published model of " + pk);
          }
          RequireValid(*model, command);
          if (service->call_type == tsl::CallType::kSync) {
            command.call_type = store::CallType::kSync;
            if (device.status != store::DeviceStatus::kOnline) {
              throw ApiError::Conflict("device " + pk + "/" + dn +
                                       " is offline: a synchronous service needs it online");
            }
          }
          CheckRate(control, device);
          command.audit = AuditRecordFor(request, "device.service.invoke", pk + "/" + dn,
                                         {{"identifier", command.identifier},
                                          {"callType", store::ToString(command.call_type)},
                                          {"params", command.params}});
          if (command.call_type == store::CallType::kSync) {
            control.CallSync(db, device, model, command,
                             [done](SyncOutcome outcome) { done(SyncResponse(std::move(outcome))); });
            return;
          }
          done(Accepted(control.Enqueue(db, device, command)));
        });
      });
}

void SetDesiredProperties(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, DesiredSchema());
  ControlService& control = Control(context);
  const nlohmann::json& items = body["items"];
  if (items.empty() || items.size() > kMaxDesiredItems) {
    throw ApiError::BadRequest("items must name 1 to " + std::to_string(kMaxDesiredItems) + " properties",
                               {{"/items", 0, "1 to 200 identifiers"}});
  }
  nlohmann::json versions = body.value("versions", nlohmann::json::object());
  std::vector<ErrorItem> problems;
  for (auto it = versions.begin(); it != versions.end(); ++it) {
    if (!items.contains(it.key())) {
      problems.push_back({"/versions/" + JsonPointerEscape(it.key()), 0,
                          "a version for an identifier that is not in items"});
    }
  }
  if (!problems.empty()) {
    throw ApiError::BadRequest(problems.front().message, problems);
  }
  std::string requested_by = request.principal ? request.principal->name : "";
  RunOnDb(context.pool, respond,
          [&control, request = std::move(request), pk, dn, items, versions, requested_by](store::Db& db) {
            return Controlled([&] {
              store::Device device = CommandTarget(db, pk, dn);
              auto model = control.Model(db, pk);
              // Values are checked as a property set would be (rw properties, strict); null clears.
              Command push;
              push.identifier = "set";
              push.requested_by = requested_by;
              std::vector<ErrorItem> errors;
              for (auto it = items.begin(); it != items.end(); ++it) {
                if (!it.value().is_null()) {
                  push.params[it.key()] = it.value();
                  continue;
                }
                const tsl::Property* p = model->model ? model->model->FindProperty(it.key()) : nullptr;
                if (p == nullptr || p->access_mode == tsl::AccessMode::kRead) {
                  errors.push_back({"/items/" + JsonPointerEscape(it.key()), codes::kDownlinkSpecMismatch,
                                    "not a read-write property of the model"});
                }
              }
              if (!push.params.empty()) {
                for (auto& e : ParamErrors(ControlService::ValidateParams(*model, push), "/items")) {
                  errors.push_back(std::move(e));
                }
              }
              if (!errors.empty()) {
                throw BadParams(std::move(errors), "invalid items");
              }
              CheckRate(control, device);
              std::vector<store::DesiredChange> changes;
              for (auto it = items.begin(); it != items.end(); ++it) {
                store::DesiredChange change;
                change.identifier = it.key();
                if (!it.value().is_null()) {
                  change.value_json = it.value().dump();
                }
                if (versions.contains(it.key())) {
                  change.expected_version = versions[it.key()].get<int>();
                }
                changes.push_back(std::move(change));
              }
              auto set = store::SetDesiredProperties(db, device.id, changes);
              if (!set && set.error() == store::Errc::kVersionMismatch) {
                throw ApiError::Conflict("a version in versions does not match the stored one");
              }
              std::map<std::string, int> new_versions = Unwrap(std::move(set));
              nlohmann::json detail = {{"items", items}};
              // An online device gets the new values at once, as a property set.
              if (!push.params.empty() && device.status == store::DeviceStatus::kOnline) {
                store::ServiceCall call = control.Enqueue(db, device, push);
                detail["callId"] = call.call_id;
              }
              Audit(db, request, "device.desired.set", pk + "/" + dn, detail);
              return JsonOk(200, {{"versions", new_versions}});
            });
          });
}

void GetDesiredProperties(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(context.pool, respond, [pk, dn](store::Db& db) {
    store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    nlohmann::json items = nlohmann::json::object();
    for (const auto& d : Unwrap(store::GetDesiredProperties(db, device.id))) {
      items[d.identifier] = {{"value", d.value_json ? JsonValue(*d.value_json) : nlohmann::json(nullptr)},
                             {"version", d.version}};
    }
    return JsonOk(200, {{"items", items}});
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products/{pk}/devices/{dn}/properties", kOperator, SetProperties},
    {"POST", "/api/v1/products/{pk}/devices/{dn}/services/{id}", kOperator, InvokeService},
    {"PUT", "/api/v1/products/{pk}/devices/{dn}/desired-properties", kOperator, SetDesiredProperties},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/desired-properties", kViewer, GetDesiredProperties},
};

}  // namespace

void AddControlRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

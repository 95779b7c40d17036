// Bringing a fleet in as it is: bulk import of existing credentials (CSV or JSON), the credentials
// export, and the operator side of dynamic registration (reset, productSecret rotation).
#include <algorithm>
#include <cctype>

#include "fleet/device_rows.hpp"
#include "handlers/common.hpp"
#include "handlers/devices.hpp"
#include "http/body_schema.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/overview.hpp"
#include "iot/store/products.hpp"
#include "iot/store/registration.hpp"

namespace iot::api {
namespace {

const BodySchema& ImportJsonSchema() {
  static const BodySchema kSchema = BodySchema().Required("devices", FieldType::kArray,
                                                          {.min = 1,
                                                           .max = store::kMaxImportDevices,
                                                           .items = FieldType::kObject,
                                                           .item_object = DeviceRowSchema()});
  return kSchema;
}

const BodySchema& ResetSchema() {
  static const BodySchema kSchema = BodySchema().Optional("rotateSecret", FieldType::kBoolean);
  return kSchema;
}

std::string MediaType(const Request& request) {
  std::string_view type = request.Header("content-type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') {
    type.remove_suffix(1);
  }
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

ApiError Invalid(std::vector<ErrorItem> problems, std::string_view what) {
  std::string detail = std::to_string(problems.size()) + (problems.size() == 1 ? " problem" : " problems") +
                       " in the " + std::string(what) + ": nothing was imported";
  return ApiError::BadRequest(std::move(detail), std::move(problems));
}

}  // namespace

Response ImportDevicesAnswer(store::Db& db, const Request& request, const std::string& pk,
                             const std::vector<store::DeviceCreate>& rows,
                             const std::function<std::string(std::size_t)>& pointer_of,
                             const std::string& action) {
  auto imported = store::ImportDevices(db, pk, rows);
  if (!imported && imported.error() == store::Errc::kConflict) {
    throw ApiError::Conflict("a device was created meanwhile in product " + pk + ": nothing was imported");
  }
  store::ImportOutcome outcome = Unwrap(std::move(imported), "no such product: " + pk);
  if (!outcome.conflicts.empty()) {
    ApiError error = ApiError::Conflict(std::to_string(outcome.conflicts.size()) +
                                        " devices exist already: nothing was imported");
    for (const auto& conflict : outcome.conflicts) {
      error.errors.push_back({pointer_of(conflict.index), 0, conflict.message});
    }
    throw error;
  }
  nlohmann::json items = nlohmann::json::array();
  nlohmann::json names = nlohmann::json::array();
  for (const auto& device : outcome.devices) {
    items.push_back(DeviceJson(device, true));
    names.push_back(device.device_name);
  }
  Audit(db, request, action, pk, {{"count", names.size()}, {"deviceNames", names}});
  return JsonOk(201, {{"items", std::move(items)}});
}

namespace {

void ImportDevices(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::vector<store::DeviceCreate> rows;
  std::function<std::string(std::size_t)> pointer_of;
  const std::string type = MediaType(request);
  if (type == "text/csv") {
    CsvDevices csv = ParseDevicesCsv(request.body, pk, store::kMaxImportDevices);
    if (!csv.problems.empty()) {
      throw Invalid(std::move(csv.problems), "CSV");
    }
    rows = std::move(csv.rows);
    pointer_of = [lines = std::move(csv.lines)](std::size_t i) {
      return "/lines/" + std::to_string(lines[i]);
    };
  } else if (type == "application/json") {
    nlohmann::json body = ParseJsonBody(request, ImportJsonSchema());
    std::vector<ErrorItem> problems;
    rows = DeviceRowsFromJson(body["devices"], problems);
    if (!problems.empty()) {
      throw Invalid(std::move(problems), "request body");
    }
    pointer_of = DevicesPointer;
  } else {
    throw ApiError::UnsupportedMediaType("an import is text/csv or application/json");
  }
  RunOnDb(
      pool, respond,
      [request = std::move(request), pk, rows = std::move(rows), pointer_of = std::move(pointer_of)](
          store::Db& db) { return ImportDevicesAnswer(db, request, pk, rows, pointer_of, "device.import"); });
}

void ExportDevices(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  RunOnDb(pool, respond, [request = std::move(request), pk](store::Db& db) {
    auto rows = Unwrap(store::ListCredentials(db, pk), "no such product: " + pk);
    Audit(db, request, "device.exportCredentials", pk, {{"count", rows.size()}});
    Response response;
    response.status = 200;
    response.content_type = "text/csv; charset=utf-8";
    response.body = DevicesCsv(pk, rows);
    response.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + pk + "-devices.csv\"");
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  });
}

void ResetRegistration(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  const bool rotate =
      !request.body.empty() && ParseJsonBody(request, ResetSchema()).value("rotateSecret", false);
  RunOnDb(pool, respond, [request = std::move(request), pk, dn, rotate](store::Db& db) {
    std::optional<std::string> secret;
    if (rotate) {
      secret = store::GenerateDeviceSecret();
    }
    Unwrap(store::ResetRegistration(db, pk, dn, secret), "no such device: " + pk + "/" + dn);
    Audit(db, request, "device.registrationReset", pk + "/" + dn, {{"rotateSecret", rotate}});
    auto device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    return JsonOk(200, DeviceJson(device, true));
  });
}

// The fleet at a glance (the console's overview page adds rates and rejections from the live stream).
void GetOverview(HandlerContext& context, Request&&, Respond respond) {
  store::DbPool& pool = context.pool;
  RunOnDb(pool, respond, [](store::Db& db) {
    nlohmann::json products = nlohmann::json::array();
    for (const auto& p : Unwrap(store::ListProductStatusCounts(db))) {
      products.push_back({{"productKey", p.product_key},
                          {"name", p.name},
                          {"online", p.online},
                          {"offline", p.offline},
                          {"unactive", p.unactive},
                          {"disabled", p.disabled}});
    }
    return JsonOk(200, {{"products", std::move(products)}});
  });
}

void RotateProductSecret(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  RunOnDb(pool, respond, [request = std::move(request), pk](store::Db& db) {
    auto product = Unwrap(store::RotateProductSecret(db, pk), "no such product: " + pk);
    Audit(db, request, "product.rotateProductSecret", pk);
    return JsonOk(200, {{"productKey", product.product_key}, {"productSecret", product.product_secret}});
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products/{pk}/devices:import", kAdmin, ImportDevices},
    {"GET", "/api/v1/products/{pk}/devices:export", kAdmin, ExportDevices},
    {"POST", "/api/v1/products/{pk}/devices/{dn}/registration:reset", kAdmin, ResetRegistration},
    {"GET", "/api/v1/overview", kViewer, GetOverview},
    {"POST", "/api/v1/products/{pk}:rotateProductSecret", kAdmin, RotateProductSecret},
};

}  // namespace

void AddFleetRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

// /api/v1/products/{pk}/devices: register (single and batch), list with filters, get, patch, delete.
#include "handlers/devices.hpp"

#include <set>

#include "fleet/device_rows.hpp"
#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/store/devices.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kCursorKind = "devices";

const BodySchema& CreateSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Optional("deviceName", FieldType::kString)
          .Optional("deviceSecret", FieldType::kString)
          .Optional("iotId", FieldType::kString)
          .Optional("nickname", FieldType::kString, {.max = static_cast<double>(kMaxNicknameChars)});
  return kSchema;
}

const BodySchema& BatchSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Optional("count", FieldType::kInteger, {.min = 1, .max = store::kMaxBatchDevices})
          .Optional("deviceNames", FieldType::kArray,
                    {.min = 1, .max = store::kMaxBatchDevices, .items = FieldType::kString})
          .Optional("devices", FieldType::kArray,
                    {.min = 1,
                     .max = store::kMaxBatchDevices,
                     .items = FieldType::kObject,
                     .item_object = DeviceRowSchema()});
  return kSchema;
}

const BodySchema& PatchSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Optional("nickname", FieldType::kString,
                    {.nullable = true, .max = static_cast<double>(kMaxNicknameChars)})
          .Optional("enabled", FieldType::kBoolean);
  return kSchema;
}

Response Created(const nlohmann::json& body) { return JsonOk(201, body); }

}  // namespace

nlohmann::json DeviceJson(const store::Device& d, bool with_secret) {
  nlohmann::json tags = nlohmann::json::object();
  for (const auto& [key, value] : d.tags) {
    tags[key] = value;
  }
  nlohmann::json out = {
      {"productKey", d.product_key},
      {"deviceName", d.device_name},
      {"iotId", d.iot_id},
      {"nickname", d.nickname.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.nickname)},
      {"status", d.enabled ? std::string(store::ToString(d.status)) : std::string("disabled")},
      {"enabled", d.enabled},
      {"tags", std::move(tags)},
      {"createdAt", d.created_at},
      {"activatedAt", TimeOrNull(d.activated_at)},
      {"lastOnlineAt", TimeOrNull(d.last_online_at)},
      {"lastOfflineAt", TimeOrNull(d.last_offline_at)},
      {"ipAddress", d.ip_address.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.ip_address)}};
  // A sub-device names its gateway (null for the others).
  out["gateway"] = d.gateway_product_key.empty() ? nlohmann::json(nullptr)
                                                 : nlohmann::json{{"productKey", d.gateway_product_key},
                                                                  {"deviceName", d.gateway_device_name}};
  if (with_secret) {
    out["deviceSecret"] = d.secret;
  }
  return out;
}

namespace {

void CreateDevice(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, CreateSchema());
  store::DeviceCreate create;
  if (body.contains("deviceName")) {
    create.device_name = body["deviceName"].get<std::string>();
  }
  if (body.contains("deviceSecret")) {
    create.secret = body["deviceSecret"].get<std::string>();
  }
  if (body.contains("iotId")) {
    create.iot_id = body["iotId"].get<std::string>();
  }
  create.nickname = body.value("nickname", std::string());
  std::vector<ErrorItem> problems;
  CheckDeviceRow(create, "", problems);
  if (!problems.empty()) {
    std::string detail = "invalid " + problems.front().path.substr(1) + ": " + problems.front().message;
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
  RunOnDb(pool, respond, [request = std::move(request), pk, create](store::Db& db) {
    auto created = store::CreateDevice(db, pk, create);
    if (!created && created.error() == store::Errc::kConflict) {
      throw ApiError::Conflict("device " + create.device_name.value_or("") + " exists already in product " +
                               pk + (create.iot_id ? " or iotId " + *create.iot_id + " is taken" : ""));
    }
    store::Device device = Unwrap(std::move(created), "no such product: " + pk);
    Audit(db, request, "device.create", pk + "/" + device.device_name,
          {{"nickname", device.nickname},
           {"iotId", device.iot_id},
           {"existingSecret", create.secret.has_value()}});
    Response response = Created(DeviceJson(device, true));
    response.headers.emplace_back("Location", "/api/v1/products/" + pk + "/devices/" + device.device_name);
    return response;
  });
}

void CreateDevices(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, BatchSchema());
  const bool has_count = body.contains("count");
  const bool has_names = body.contains("deviceNames");
  const bool has_devices = body.contains("devices");
  if (int{has_count} + int{has_names} + int{has_devices} != 1) {
    throw ApiError::BadRequest("give one of count, deviceNames and devices",
                               {{"", 0, "exactly one of count, deviceNames and devices is required"}});
  }
  std::vector<store::DeviceCreate> creates;
  if (has_count) {
    creates.resize(body["count"].get<std::size_t>());
  } else if (has_devices) {
    std::vector<ErrorItem> problems;
    creates = DeviceRowsFromJson(body["devices"], problems);
    if (!problems.empty()) {
      throw ApiError::BadRequest(std::to_string(problems.size()) + " invalid devices", std::move(problems));
    }
    RunOnDb(pool, respond, [request = std::move(request), pk, creates](store::Db& db) {
      return ImportDevicesAnswer(db, request, pk, creates, DevicesPointer, "device.createBatch");
    });
    return;
  } else {
    std::vector<ErrorItem> problems;
    std::set<std::string> seen;
    const auto& names = body["deviceNames"];
    for (std::size_t i = 0; i < names.size(); ++i) {
      std::string name = names[i].get<std::string>();
      const std::string pointer = "/deviceNames/" + std::to_string(i);
      if (!IsValidDeviceName(name)) {
        problems.push_back({pointer, 0, "must be 4 to 32 of letters, digits and -_@.:"});
      } else if (!seen.insert(name).second) {
        problems.push_back({pointer, 0, "duplicate deviceName " + name});
      }
      creates.push_back({.device_name = std::move(name), .nickname = ""});
    }
    if (!problems.empty()) {
      throw ApiError::BadRequest(std::to_string(problems.size()) + " invalid deviceNames",
                                 std::move(problems));
    }
  }
  RunOnDb(pool, respond, [request = std::move(request), pk, creates](store::Db& db) {
    auto created = store::CreateDevices(db, pk, creates);
    if (!created && created.error() == store::Errc::kConflict) {
      throw ApiError::Conflict("a deviceName exists already in product " + pk + ": nothing was registered");
    }
    auto devices = Unwrap(std::move(created), "no such product: " + pk);
    nlohmann::json items = nlohmann::json::array();
    nlohmann::json names = nlohmann::json::array();
    for (const auto& device : devices) {
      items.push_back(DeviceJson(device, true));
      names.push_back(device.device_name);
    }
    Audit(db, request, "device.createBatch", pk, {{"deviceNames", names}});
    return Created({{"items", std::move(items)}});
  });
}

void ListDevices(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  ListParams params = ParseListParams(request);
  store::DeviceFilter filter;
  std::vector<ErrorItem> problems;
  if (auto status = request.Query("status")) {
    if (*status == "unactive") {
      filter.status = store::DeviceStatusFilter::kUnactive;
    } else if (*status == "online") {
      filter.status = store::DeviceStatusFilter::kOnline;
    } else if (*status == "offline") {
      filter.status = store::DeviceStatusFilter::kOffline;
    } else if (*status == "disabled") {
      filter.status = store::DeviceStatusFilter::kDisabled;
    } else {
      problems.push_back({"", 0, "query parameter status must be unactive, online, offline or disabled"});
    }
  }
  if (auto search = request.Query("search")) {
    if (search->size() > 64) {
      problems.push_back({"", 0, "query parameter search is longer than 64 bytes"});
    }
    filter.search = std::string(*search);
  }
  if (auto tag = request.Query("tag")) {
    const auto colon = tag->find(':');
    if (colon == std::string_view::npos || colon == 0) {
      problems.push_back({"", 0, "query parameter tag must be key:value"});
    } else {
      filter.tag = std::make_pair(std::string(tag->substr(0, colon)), std::string(tag->substr(colon + 1)));
    }
  }
  if (auto gateway = request.Query("gateway")) {
    const auto slash = gateway->find('/');
    const auto gw_pk = gateway->substr(0, slash);
    const auto gw_dn = slash == std::string_view::npos ? std::string_view() : gateway->substr(slash + 1);
    if (slash == std::string_view::npos || !IsValidProductKey(gw_pk) || !IsValidDeviceName(gw_dn)) {
      problems.push_back({"", 0, "query parameter gateway must be productKey/deviceName"});
    } else {
      filter.gateway = std::make_pair(std::string(gw_pk), std::string(gw_dn));
    }
  }
  if (!problems.empty()) {
    std::string detail = problems.front().message;  // before the vector is moved
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
  filter.page = {.limit = params.limit, .cursor = UnwrapCursor(kCursorKind, params.cursor)};
  RunOnDb(pool, respond, [pk, filter](store::Db& db) {
    auto page = Unwrap(store::ListDevices(db, pk, filter), "no such product: " + pk);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& device : page.items) {
      items.push_back(DeviceJson(device, false));
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kCursorKind, page.next_cursor)));
  });
}

void GetDevice(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  const bool admin_caller = request.principal && request.principal->role == Role::kAdmin;
  RunOnDb(pool, respond, [pk, dn, admin_caller](store::Db& db) {
    auto device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    return JsonOk(200, DeviceJson(device, admin_caller));
  });
}

void UpdateDevice(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, PatchSchema());
  store::DevicePatch patch;
  if (body.contains("nickname")) {
    patch.nickname = body["nickname"].is_null() ? std::string() : body["nickname"].get<std::string>();
  }
  if (body.contains("enabled")) {
    patch.enabled = body["enabled"].get<bool>();
  }
  RunOnDb(pool, respond, [request = std::move(request), pk, dn, patch, body](store::Db& db) {
    auto device = Unwrap(store::PatchDevice(db, pk, dn, patch), "no such device: " + pk + "/" + dn);
    std::string action = "device.update";
    if (patch.enabled) {
      action = *patch.enabled ? "device.enable" : "device.disable";
    }
    Audit(db, request, action, pk + "/" + dn, body);
    return JsonOk(200, DeviceJson(device, false));
  });
}

void DeleteDevice(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(pool, respond, [request = std::move(request), pk, dn](store::Db& db) {
    Unwrap(store::DeleteDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    Audit(db, request, "device.delete", pk + "/" + dn);
    Response response;
    response.status = 204;
    return response;
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products/{pk}/devices", kAdmin, CreateDevice},
    {"POST", "/api/v1/products/{pk}/devices:batch", kAdmin, CreateDevices},
    {"GET", "/api/v1/products/{pk}/devices", kViewer, ListDevices},
    {"GET", "/api/v1/products/{pk}/devices/{dn}", kViewer, GetDevice},
    {"PATCH", "/api/v1/products/{pk}/devices/{dn}", kAdmin, UpdateDevice},
    {"DELETE", "/api/v1/products/{pk}/devices/{dn}", kAdmin, DeleteDevice},
};

}  // namespace

void AddDeviceRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

// /api/v1/products: create, list, get, patch, delete.
#include "iot/store/products.hpp"

#include <algorithm>
#include <cctype>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kCursorKind = "products";
constexpr int kMaxRetentionDays = 3650;
constexpr int kMaxTimestampWindowS = 86400;

nlohmann::json ProductJson(const store::Product& p);

// productSecret only for admins (it lets any holder register the product's devices).
nlohmann::json ProductJson(const store::Product& p, bool with_secret) {
  nlohmann::json out = ProductJson(p);
  if (with_secret) {
    out["productSecret"] = p.product_secret;
  }
  return out;
}

bool IsAdmin(const Request& request) { return request.principal && request.principal->role == Role::kAdmin; }

nlohmann::json ProductJson(const store::Product& p) {
  return {{"productKey", p.product_key},
          {"dynamicRegistration", p.dynamic_registration},
          {"remoteConfig", p.remote_config},
          {"name", p.name},
          {"nodeType", store::ToString(p.node_type)},
          {"validation", store::ToString(p.validation)},
          {"dataFormat", store::ToString(p.data_format)},
          {"scriptUpdatedAt", TimeOrNull(p.script_updated_at)},
          {"retentionDays", p.retention_days},
          {"description", p.description},
          {"timestampWindowS", p.timestamp_window_s},
          {"createdAt", p.created_at},
          {"thingModelVersion",
           p.thing_model_version ? nlohmann::json(*p.thing_model_version) : nlohmann::json(nullptr)},
          {"deviceCount", p.device_count}};
}

const BodySchema& CreateSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Required("name", FieldType::kString, {.min = 1, .max = 128})
          .Optional("productKey", FieldType::kString)
          .Optional("nodeType", FieldType::kString, {.one_of = {"device", "gateway"}})
          .Optional("validation", FieldType::kString, {.one_of = {"weak", "none", "strict"}})
          .Optional("dataFormat", FieldType::kString, {.one_of = {"alink", "raw"}})
          .Optional("retentionDays", FieldType::kInteger, {.min = 1, .max = kMaxRetentionDays})
          .Optional("description", FieldType::kString, {.max = 1024})
          .Optional("timestampWindowS", FieldType::kInteger, {.min = 0, .max = kMaxTimestampWindowS})
          .Optional("productSecret", FieldType::kString)
          .Optional("dynamicRegistration", FieldType::kBoolean)
          .Optional("remoteConfig", FieldType::kBoolean);
  return kSchema;
}

const BodySchema& PatchSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Optional("name", FieldType::kString, {.min = 1, .max = 128})
          .Optional("description", FieldType::kString, {.max = 1024})
          .Optional("validation", FieldType::kString, {.one_of = {"weak", "none", "strict"}})
          .Optional("retentionDays", FieldType::kInteger, {.min = 1, .max = kMaxRetentionDays})
          .Optional("timestampWindowS", FieldType::kInteger, {.min = 0, .max = kMaxTimestampWindowS})
          .Optional("dynamicRegistration", FieldType::kBoolean)
          .Optional("remoteConfig", FieldType::kBoolean);
  return kSchema;
}

void CreateProduct(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  nlohmann::json body = ParseJsonBody(request, CreateSchema());
  store::ProductCreate create;
  create.name = body["name"].get<std::string>();
  if (body.contains("productKey")) {
    create.product_key = body["productKey"].get<std::string>();
    if (!IsValidProductKey(*create.product_key)) {
      throw ApiError::BadRequest("invalid productKey",
                                 {{"/productKey", 0, "must be 4 to 32 letters and digits"}});
    }
  }
  if (body.contains("nodeType")) {
    store::Parse(body["nodeType"].get<std::string>(), create.node_type);
  }
  if (body.contains("validation")) {
    store::Parse(body["validation"].get<std::string>(), create.validation);
  }
  if (body.contains("dataFormat")) {
    store::Parse(body["dataFormat"].get<std::string>(), create.data_format);
  }
  create.retention_days = body.value("retentionDays", store::kDefaultRetentionDays);
  create.description = body.value("description", std::string());
  create.timestamp_window_s = body.value("timestampWindowS", 0);
  create.dynamic_registration = body.value("dynamicRegistration", false);
  create.remote_config = body.value("remoteConfig", false);
  if (body.contains("productSecret")) {
    create.product_secret = body["productSecret"].get<std::string>();
    if (create.product_secret->size() < 16 || create.product_secret->size() > 64 ||
        !std::all_of(create.product_secret->begin(), create.product_secret->end(),
                     [](unsigned char c) { return std::isalnum(c) != 0; })) {
      throw ApiError::BadRequest("invalid productSecret",
                                 {{"/productSecret", 0, "must be 16 to 64 letters and digits"}});
    }
  }
  RunOnDb(pool, respond, [request = std::move(request), create](store::Db& db) {
    store::Product product = Unwrap(store::CreateProduct(db, create),
                                    "product " + create.product_key.value_or("") + " exists already");
    nlohmann::json out = ProductJson(product);
    Audit(db, request, "product.create", product.product_key, out);
    Response response = JsonOk(201, ProductJson(product, true));
    response.headers.emplace_back("Location", "/api/v1/products/" + product.product_key);
    return response;
  });
}

void ListProducts(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  ListParams params = ParseListParams(request);
  store::PageQuery page{.limit = params.limit, .cursor = UnwrapCursor(kCursorKind, params.cursor)};
  RunOnDb(pool, respond, [page, admin_caller = IsAdmin(request)](store::Db& db) {
    auto products = Unwrap(store::ListProducts(db, page));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& p : products.items) {
      items.push_back(ProductJson(p, admin_caller));
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kCursorKind, products.next_cursor)));
  });
}

void GetProduct(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  RunOnDb(pool, respond, [pk, admin_caller = IsAdmin(request)](store::Db& db) {
    return JsonOk(200,
                  ProductJson(Unwrap(store::GetProduct(db, pk), "no such product: " + pk), admin_caller));
  });
}

void UpdateProduct(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  if (nlohmann::json raw = ParseJsonBody(request); raw.is_object() && raw.contains("dataFormat")) {
    throw ApiError::BadRequest("dataFormat is fixed when the product is created",
                               {{"/dataFormat", 0, "cannot be changed"}});
  }
  nlohmann::json body = ParseJsonBody(request, PatchSchema());
  store::ProductPatch patch;
  if (body.contains("name")) {
    patch.name = body["name"].get<std::string>();
  }
  if (body.contains("description")) {
    patch.description = body["description"].get<std::string>();
  }
  if (body.contains("validation")) {
    store::ValidationMode mode{};
    store::Parse(body["validation"].get<std::string>(), mode);
    patch.validation = mode;
  }
  if (body.contains("retentionDays")) {
    patch.retention_days = body["retentionDays"].get<int>();
  }
  if (body.contains("timestampWindowS")) {
    patch.timestamp_window_s = body["timestampWindowS"].get<int>();
  }
  if (body.contains("dynamicRegistration")) {
    patch.dynamic_registration = body["dynamicRegistration"].get<bool>();
  }
  if (body.contains("remoteConfig")) {
    patch.remote_config = body["remoteConfig"].get<bool>();
  }
  RunOnDb(pool, respond, [request = std::move(request), pk, patch, body](store::Db& db) {
    store::Product product = Unwrap(store::PatchProduct(db, pk, patch), "no such product: " + pk);
    Audit(db, request, "product.update", pk, body);
    return JsonOk(200, ProductJson(product, true));
  });
}

void DeleteProduct(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  RunOnDb(pool, respond, [request = std::move(request), pk](store::Db& db) {
    auto deleted = store::DeleteProduct(db, pk);
    if (!deleted && deleted.error() == store::Errc::kConflict) {
      throw ApiError::Conflict("product " + pk + " still has devices: delete them first");
    }
    Unwrap(std::move(deleted), "no such product: " + pk);
    Audit(db, request, "product.delete", pk);
    Response response;
    response.status = 204;
    return response;
  });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products", kAdmin, CreateProduct},
    {"GET", "/api/v1/products", kViewer, ListProducts},
    {"GET", "/api/v1/products/{pk}", kViewer, GetProduct},
    {"PATCH", "/api/v1/products/{pk}", kAdmin, UpdateProduct},
    {"DELETE", "/api/v1/products/{pk}", kAdmin, DeleteProduct},
};

}  // namespace

void AddProductRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

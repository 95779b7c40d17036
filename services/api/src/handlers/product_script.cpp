// /api/v1/products/{pk}/script: a raw product's parsing script (read, save) and script:test (run it
// on a sample payload). Scripts run under the configured limits on a DB pool thread, never on I/O.
#include <chrono>
#include <ctime>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/script/hex.hpp"
#include "iot/script/script.hpp"
#include "iot/store/products.hpp"

namespace iot::api {
namespace {

constexpr std::size_t kMaxScriptBytes = 128 * 1024;

const BodySchema& PutSchema() {
  static const BodySchema kSchema =
      BodySchema().Required("script", FieldType::kString, {.max = kMaxScriptBytes});
  return kSchema;
}

const BodySchema& TestSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Optional("script", FieldType::kString, {.max = kMaxScriptBytes})
          .Optional("direction", FieldType::kString, {.one_of = {"up", "down", "transform"}})
          .Optional("payloadHex", FieldType::kString, {.max = 2 * 64 * 1024})
          .Optional("message", FieldType::kObject)
          .Optional("topic", FieldType::kString, {.max = 512});
  return kSchema;
}

nlohmann::json ErrorJson(const script::Error& e) {
  return {{"code", e.code},
          {"message", e.message},
          {"line", e.line > 0 ? nlohmann::json(e.line) : nlohmann::json(nullptr)}};
}

store::Product RawProduct(store::Db& db, const std::string& pk) {
  store::Product product = Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
  if (product.data_format != store::DataFormat::kRaw) {
    throw ApiError::Conflict("product " + pk +
                             " sends Alink JSON (dataFormat alink): only raw products have a script");
  }
  return product;
}

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

void GetScript(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  RunOnDb(pool, respond, [pk](store::Db& db) {
    RawProduct(db, pk);
    auto script = Unwrap(store::GetProductScript(db, pk), "no such product: " + pk);
    if (!script) {
      throw ApiError::NotFound("product " + pk + " has no parsing script yet");
    }
    return JsonOk(200, {{"productKey", pk}, {"script", script->script}, {"updatedAt", script->updated_at}});
  });
}

// Saved only when it compiles (its top level runs) and defines both entry points; 400 otherwise,
// with the script code (26001/26002/26006) and the line at /script.
void PutScript(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  const script::Limits& limits = context.script_limits;
  std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, PutSchema());
  std::string source = body["script"].get<std::string>();
  RunOnDb(pool, respond, [request = std::move(request), pk, source, limits](store::Db& db) {
    RawProduct(db, pk);
    auto compiled = script::Script::Compile(source, limits);
    if (!compiled) {
      const script::Error& e = compiled.error();
      throw ApiError::BadRequest("the script does not compile: " + e.Text(), {{"/script", e.code, e.Text()}});
    }
    store::ProductScript saved = Unwrap(store::PutProductScript(db, pk, source), "no such product: " + pk);
    Audit(db, request, "product.script.update", pk, {{"bytes", source.size()}});
    return JsonOk(200, {{"productKey", pk}, {"script", saved.script}, {"updatedAt", saved.updated_at}});
  });
}

// Runs the given (or the saved) script on a sample: "up" (rawDataToProtocol on payloadHex), "down"
// (protocolToRawData on message) or "transform" (transformPayload on topic + payloadHex). 200 with
// {"ok":true,"result"} or {"ok":false,"error":{code,message,line}}: a failing script is a result.
void TestScript(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  const script::Limits& limits = context.script_limits;
  std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, TestSchema());
  const std::string direction = body.value("direction", std::string("up"));
  std::string bytes;
  if (direction != "down") {
    auto decoded = script::FromHex(body.value("payloadHex", std::string()));
    if (!decoded) {
      throw ApiError::BadRequest("payloadHex is not hex", {{"/payloadHex", 0, "pairs of hex digits"}});
    }
    bytes = std::move(*decoded);
  } else if (!body.contains("message")) {
    throw ApiError::BadRequest("direction down needs a message", {{"/message", 0, "required for down"}});
  }
  RunOnDb(pool, respond, [pk, body, direction, bytes, limits](store::Db& db) {
    RawProduct(db, pk);
    std::string source;
    if (body.contains("script")) {
      source = body["script"].get<std::string>();
    } else {
      auto saved = Unwrap(store::GetProductScript(db, pk), "no such product: " + pk);
      if (!saved) {
        return JsonOk(200,
                      {{"ok", false},
                       {"error", ErrorJson({script::kNoScript, "the product has no parsing script", 0})}});
      }
      source = std::move(saved->script);
    }
    const double started = ThreadCpuMs();
    nlohmann::json out = {{"ok", false}, {"direction", direction}};
    auto compiled = script::Script::Compile(source, limits);
    if (!compiled) {
      out["error"] = ErrorJson(compiled.error());
    } else if (direction == "down") {
      auto r = (*compiled)->ProtocolToRawData(body["message"]);
      if (r) {
        out["ok"] = true;
        out["result"] = {{"payloadHex", script::ToHex(*r)}, {"length", r->size()}};
      } else {
        out["error"] = ErrorJson(r.error());
      }
    } else {
      auto r = direction == "up" ? (*compiled)->RawDataToProtocol(bytes)
                                 : (*compiled)->TransformPayload(body.value("topic", std::string()), bytes);
      std::optional<script::Error> missing;
      if (r && direction == "up") {
        missing = script::RequireMethod(*r);
      }
      if (r && !missing) {
        out["ok"] = true;
        out["result"] = *r;
      } else if (r) {
        out["error"] = ErrorJson(*missing);
        out["result"] = *r;
      } else {
        out["error"] = ErrorJson(r.error());
      }
    }
    out["cpuMs"] = ThreadCpuMs() - started;
    return JsonOk(200, out);
  });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/products/{pk}/script", kViewer, GetScript},
    {"PUT", "/api/v1/products/{pk}/script", kAdmin, PutScript},
    {"POST", "/api/v1/products/{pk}/script:test", kOperator, TestScript},
};

}  // namespace

void AddProductScriptRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

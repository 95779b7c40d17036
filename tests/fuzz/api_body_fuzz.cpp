// libFuzzer target: REST request bodies (iot-api's ParseJsonBody and BodySchema::Check). Whatever the
// bytes, the only outcome besides a parsed body is an ApiError 400 (never another exception, a crash
// or deep recursion); a body that is accepted nests at most 64 levels, passes its schema, and
// survives the copy and dump the handlers do with it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "http/body_schema.hpp"
#include "http/problem.hpp"
#include "iot/common/json.hpp"

namespace {

using iot::api::BodySchema;
using iot::api::FieldType;

// The shapes the handlers use: required and optional fields, enums, ranges, nested objects, arrays of
// objects and maps (Values).
const BodySchema& Schema() {
  static const BodySchema kSchema = [] {
    auto item = std::make_shared<BodySchema>();
    item->Required("deviceName", FieldType::kString, {.min = 1, .max = 64})
        .Optional("nickname", FieldType::kString, {.nullable = true, .max = 64});
    auto versions = std::make_shared<BodySchema>();
    versions->Values(FieldType::kInteger, {.min = 0, .max = 2147483647});
    BodySchema root;
    root.Optional("name", FieldType::kString, {.min = 1, .max = 64})
        .Optional("role", FieldType::kString, {.one_of = {"viewer", "operator", "admin"}})
        .Optional("params", FieldType::kObject)
        .Optional("ttlMs", FieldType::kInteger, {.min = 1, .max = 2592000000.0})
        .Optional("ratio", FieldType::kNumber, {.min = -1, .max = 1})
        .Optional("enabled", FieldType::kBoolean)
        .Optional("devices", FieldType::kArray,
                  {.max = 100, .items = FieldType::kObject, .item_object = item})
        .Optional("versions", FieldType::kObject, {.object = versions})
        .Optional("any", FieldType::kAny);
    return root;
  }();
  return kSchema;
}

std::size_t Depth(const nlohmann::json& value) {
  std::size_t deepest = 0;
  if (value.is_structured()) {
    for (const auto& child : value) {
      const std::size_t d = Depth(child);
      deepest = d > deepest ? d : deepest;
    }
    return deepest + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  iot::api::Request request;
  request.headers.emplace_back("content-type", "application/json");
  request.body.assign(reinterpret_cast<const char*>(data), size);
  for (const BodySchema* schema : {&Schema(), static_cast<const BodySchema*>(nullptr)}) {
    try {
      nlohmann::json body =
          schema != nullptr ? iot::api::ParseJsonBody(request, *schema) : iot::api::ParseJsonBody(request);
      if (Depth(body) > iot::kMaxJsonDepth) {
        std::abort();  // the limit holds while parsing
      }
      const nlohmann::json copy = body;  // what the control handlers do
      const std::string text = copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (schema != nullptr && !body.is_object()) {
        std::abort();  // a schema wants an object
      }
      (void)text;
    } catch (const iot::api::ApiError& e) {
      if (e.status != 400 || e.detail.empty()) {
        std::abort();
      }
      (void)iot::api::ToResponse(e);  // the problem document of the answer is built too
    }
  }
  return 0;
}

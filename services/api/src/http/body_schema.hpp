#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "http/problem.hpp"
#include "http/request.hpp"
#include "iot/common/json_text.hpp"  // JsonPointerEscape, for the handlers that name errors

namespace iot::api {

enum class FieldType {
  kString,
  kInteger,  // JSON number without fraction (64-bit signed)
  kNumber,
  kBoolean,
  kObject,  // checked against a nested schema when one is given, else free-form
  kArray,   // items checked against `items` when given
  kAny,
};

class BodySchema;

// Limits on one field; designated initializers keep call sites readable.
struct FieldConstraints {
  bool nullable = false;
  std::vector<std::string> one_of;  // allowed string values
  std::optional<double> min;        // numbers: value; strings: length; arrays: size
  std::optional<double> max;
  std::shared_ptr<const BodySchema> object;       // kObject: nested schema
  std::optional<FieldType> items;                 // kArray: item type
  std::shared_ptr<const BodySchema> item_object;  // kArray of kObject: item schema
};

// A small declarative description of a JSON object body, so every handler reports every problem at
// once (unknown fields, wrong types, missing required fields) in the same words:
//
//   static const BodySchema kCreate = BodySchema()
//       .Required("name", FieldType::kString)
//       .Optional("nodeType", FieldType::kString, {.one_of = {"device", "gateway"}})
//       .Optional("retentionDays", FieldType::kInteger, {.min = 1, .max = 3650});
//   nlohmann::json body = ParseJsonBody(request, kCreate);  // throws ApiError 400/415
class BodySchema {
 public:
  using Constraints = FieldConstraints;

  BodySchema& Required(std::string name, FieldType type, Constraints constraints = {});
  BodySchema& Optional(std::string name, FieldType type, Constraints constraints = {});
  // Accept (and ignore) fields not listed, e.g. inside TSL documents.
  BodySchema& AllowUnknown();
  // The PATCH form of a create schema: every field optional, those named `fixed` (set once) left out.
  BodySchema AsPatch(std::initializer_list<std::string_view> fixed = {}) const;
  // Object values of any key must have this type (maps such as params or tags).
  BodySchema& Values(FieldType type, Constraints constraints = {});

  // Appends every problem of `value` to `out`, JSON pointers prefixed by `pointer`.
  void Check(const nlohmann::json& value, const std::string& pointer, std::vector<ErrorItem>& out) const;

 private:
  struct Field {
    std::string name;
    FieldType type;
    bool required;
    Constraints constraints;
  };
  std::vector<Field> fields_;
  bool allow_unknown_ = false;
  std::optional<Field> values_;
};

std::string_view FieldTypeName(FieldType type);

// Parses a JSON body: 415 unless Content-Type is application/json (parameters allowed), 400 with the
// byte position when it is malformed. The overload with a schema also checks it (400 listing all).
nlohmann::json ParseJsonBody(const Request& request);
nlohmann::json ParseJsonBody(const Request& request, const BodySchema& schema);

}  // namespace iot::api

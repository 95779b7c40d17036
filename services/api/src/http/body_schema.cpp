#include "http/body_schema.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "iot/common/json.hpp"

namespace iot::api {
namespace {

bool HasType(const nlohmann::json& value, FieldType type) {
  switch (type) {
    case FieldType::kString: return value.is_string();
    case FieldType::kInteger: return value.is_number_integer();
    case FieldType::kNumber: return value.is_number();
    case FieldType::kBoolean: return value.is_boolean();
    case FieldType::kObject: return value.is_object();
    case FieldType::kArray: return value.is_array();
    case FieldType::kAny: return true;
  }
  return false;
}

std::string Describe(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "integer";
    case nlohmann::json::value_t::number_float: return "number";
    case nlohmann::json::value_t::string: return "string";
    case nlohmann::json::value_t::array: return "array";
    case nlohmann::json::value_t::object: return "object";
    default: return "value";
  }
}

std::string FormatNumber(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  return std::to_string(v);
}

// Checks one value against a type and its constraints.
void CheckValue(const nlohmann::json& value, FieldType type, const BodySchema::Constraints& c,
                const std::string& pointer, std::vector<ErrorItem>& out) {
  if (value.is_null() && c.nullable) {
    return;
  }
  // An unsigned integer above int64 is not a valid kInteger either.
  if (!HasType(value, type) || (type == FieldType::kInteger && value.is_number_unsigned() &&
                                value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX))) {
    out.push_back({pointer, 0,
                   "must be " + std::string(FieldTypeName(type)) + (c.nullable ? " or null" : "") + ", got " +
                       Describe(value)});
    return;
  }
  if (type == FieldType::kString) {
    const auto& text = value.get_ref<const std::string&>();
    if (!c.one_of.empty() && std::find(c.one_of.begin(), c.one_of.end(), text) == c.one_of.end()) {
      std::string allowed;
      for (const auto& v : c.one_of) {
        allowed += (allowed.empty() ? "" : ", ") + v;
      }
      out.push_back({pointer, 0, "must be one of: " + allowed});
    }
    if (c.min && static_cast<double>(text.size()) < *c.min) {
      out.push_back({pointer, 0, "must be at least " + FormatNumber(*c.min) + " characters"});
    }
    if (c.max && static_cast<double>(text.size()) > *c.max) {
      out.push_back({pointer, 0, "must be at most " + FormatNumber(*c.max) + " characters"});
    }
  } else if (type == FieldType::kInteger || type == FieldType::kNumber) {
    const double v = value.get<double>();
    if (c.min && v < *c.min) {
      out.push_back({pointer, 0, "must be >= " + FormatNumber(*c.min)});
    }
    if (c.max && v > *c.max) {
      out.push_back({pointer, 0, "must be <= " + FormatNumber(*c.max)});
    }
  } else if (type == FieldType::kObject && c.object) {
    c.object->Check(value, pointer, out);
  } else if (type == FieldType::kArray) {
    if (c.min && static_cast<double>(value.size()) < *c.min) {
      out.push_back({pointer, 0, "must have at least " + FormatNumber(*c.min) + " items"});
    }
    if (c.max && static_cast<double>(value.size()) > *c.max) {
      out.push_back({pointer, 0, "must have at most " + FormatNumber(*c.max) + " items"});
    }
    if (c.items) {
      BodySchema::Constraints item_constraints;
      item_constraints.object = c.item_object;
      for (std::size_t i = 0; i < value.size(); ++i) {
        CheckValue(value[i], *c.items, item_constraints, pointer + "/" + std::to_string(i), out);
      }
    }
  }
}

}  // namespace

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kString: return "a string";
    case FieldType::kInteger: return "an integer";
    case FieldType::kNumber: return "a number";
    case FieldType::kBoolean: return "a boolean";
    case FieldType::kObject: return "an object";
    case FieldType::kArray: return "an array";
    case FieldType::kAny: return "any value";
  }
  return "a value";
}

BodySchema& BodySchema::Required(std::string name, FieldType type, Constraints constraints) {
  fields_.push_back({std::move(name), type, true, std::move(constraints)});
  return *this;
}

BodySchema& BodySchema::Optional(std::string name, FieldType type, Constraints constraints) {
  fields_.push_back({std::move(name), type, false, std::move(constraints)});
  return *this;
}

BodySchema BodySchema::AsPatch(std::initializer_list<std::string_view> fixed) const {
  BodySchema patch;
  patch.allow_unknown_ = allow_unknown_;
  patch.values_ = values_;
  for (const Field& field : fields_) {
    if (std::find(fixed.begin(), fixed.end(), field.name) == fixed.end()) {
      patch.fields_.push_back({field.name, field.type, false, field.constraints});
    }
  }
  return patch;
}

BodySchema& BodySchema::AllowUnknown() {
  allow_unknown_ = true;
  return *this;
}

BodySchema& BodySchema::Values(FieldType type, Constraints constraints) {
  values_ = Field{"", type, false, std::move(constraints)};
  return *this;
}

void BodySchema::Check(const nlohmann::json& value, const std::string& pointer,
                       std::vector<ErrorItem>& out) const {
  if (!value.is_object()) {
    out.push_back({pointer, 0, "must be an object, got " + Describe(value)});
    return;
  }
  for (const auto& field : fields_) {
    const std::string child = pointer + "/" + JsonPointerEscape(field.name);
    auto it = value.find(field.name);
    if (it == value.end()) {
      if (field.required) {
        out.push_back({child, 0, "is required"});
      }
      continue;
    }
    CheckValue(*it, field.type, field.constraints, child, out);
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    const bool known =
        std::any_of(fields_.begin(), fields_.end(), [&](const Field& f) { return f.name == it.key(); });
    if (known) {
      continue;
    }
    const std::string child = pointer + "/" + JsonPointerEscape(it.key());
    if (values_) {
      CheckValue(it.value(), values_->type, values_->constraints, child, out);
    } else if (!allow_unknown_) {
      out.push_back({child, 0, "unknown field"});
    }
  }
}

nlohmann::json ParseJsonBody(const Request& request) {
  std::string_view type = request.Header("content-type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') {
    type.remove_suffix(1);
  }
  std::string lower(type);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower != "application/json") {
    throw ApiError::UnsupportedMediaType("request body must be application/json");
  }
  nlohmann::json body;
  std::size_t byte = 0;
  std::string what;
  switch (ParseJson(request.body, body, {.error_byte = &byte, .error_message = &what})) {
    case JsonParseStatus::kOk: return body;
    case JsonParseStatus::kTooDeep: throw ApiError::BadRequest(JsonTooDeepMessage());
    case JsonParseStatus::kMalformed: break;
  }
  // byte is 1-based; the message names what was expected there.
  throw ApiError::BadRequest("malformed JSON at byte " + std::to_string(byte), {{"", 0, what}});
}

nlohmann::json ParseJsonBody(const Request& request, const BodySchema& schema) {
  nlohmann::json body = ParseJsonBody(request);
  std::vector<ErrorItem> problems;
  schema.Check(body, "", problems);
  if (!problems.empty()) {
    const auto count = problems.size();
    throw ApiError::BadRequest(
        std::to_string(count) + (count == 1 ? " problem" : " problems") + " in the request body",
        std::move(problems));
  }
  return body;
}

}  // namespace iot::api

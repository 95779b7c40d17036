#include "iot/tsl/validator.hpp"

#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "iot/common/codes.hpp"
#include "text.hpp"

namespace iot::tsl {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxShownBytes = 64;  // identifiers and strings quoted in messages

// Where a value sits ("Zones[1].ZoneId"), as a chain on the stack: built only when a check fails.
struct Path {
  const Path* parent = nullptr;
  std::string_view name;
  std::size_t index = 0;
  bool is_index = false;
};

void AppendPath(std::string& out, const Path& path) {
  if (path.parent != nullptr) {
    AppendPath(out, *path.parent);
  }
  if (path.is_index) {
    out += '[';
    out += std::to_string(path.index);
    out += ']';
  } else {
    if (path.parent != nullptr) {
      out += '.';
    }
    detail::AppendSafe(out, path.name, kMaxShownBytes);
  }
}

// A short, non-recursive rendering of a value for messages.
void AppendValue(std::string& out, const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      out += '"';
      detail::AppendSafe(out, value.get_ref<const json::string_t&>(), kMaxShownBytes);
      out += '"';
      break;
    case json::value_t::object: out += "{...}"; break;
    case json::value_t::array: out += "[...]"; break;
    case json::value_t::discarded: out += "<discarded>"; break;
    default:
      out += value.dump();  // scalars only
      break;
  }
}

bool Fail(Refusal& out, int code, const Path& path, const json* value, std::string_view reason) {
  out.code = code;
  out.message.clear();
  AppendPath(out.message, path);
  out.message += ": ";
  if (value != nullptr) {
    AppendValue(out.message, *value);
    out.message += ' ';
  }
  out.message += reason;
  return false;
}

std::string Text(std::string_view a, const std::string& b) {
  std::string out(a);
  out += b;
  return out;
}

// JSON integer within int32 (accepts both of nlohmann's integer representations).
bool AsInt32(const json& value, std::int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
      return false;
    }
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (!value.is_number_integer()) {
    return false;
  }
  out = value.get<std::int64_t>();
  return out >= std::numeric_limits<std::int32_t>::min() && out <= std::numeric_limits<std::int32_t>::max();
}

bool CheckRange(const DataType& type, double number, int code, const Path& path, const json& value,
                Refusal& out) {
  if (type.min_value && number < *type.min_value) {
    return Fail(out, code, path, &value, Text("is below min ", *type.min));
  }
  if (type.max_value && number > *type.max_value) {
    return Fail(out, code, path, &value, Text("is above max ", *type.max));
  }
  return true;
}

bool Check(const DataType& type, const json& value, Mode mode, const Path& path, Refusal& out);

// Merge-walks a JSON object (keys sorted, std::map) against parameters sorted by identifier:
// one pass finds unknown keys, type failures and, when `require_all`, missing members.
bool CheckObject(const std::vector<Param>& params, const std::vector<std::uint16_t>& order,
                 const json::object_t& object, Mode mode, const Path& path, bool require_all,
                 int missing_code, Refusal& out) {
  std::size_t p = 0;
  for (const auto& [key, member] : object) {
    while (p < order.size() && std::string_view(params[order[p]].identifier) < key) {
      if (require_all) {
        const Path missing{&path, params[order[p]].identifier};
        return Fail(out, missing_code, missing, nullptr, "required member is missing");
      }
      ++p;
    }
    const Path child{&path, key};
    if (p == order.size() || params[order[p]].identifier != key) {
      return Fail(out, codes::kParamNotExist, child, nullptr, "params not exist");
    }
    if (!Check(params[order[p]].data_type, member, mode, child, out)) {
      return false;
    }
    ++p;
  }
  if (require_all && p < order.size()) {
    const Path missing{&path, params[order[p]].identifier};
    return Fail(out, missing_code, missing, nullptr, "required member is missing");
  }
  return true;
}

bool Check(const DataType& type, const json& value, Mode mode, const Path& path, Refusal& out) {
  const bool strict = mode == Mode::kStrict;
  switch (type.kind) {
    case DataKind::kInt: {
      std::int64_t number = 0;
      if (!value.is_number_integer()) {
        return Fail(out, codes::kBadInt, path, &value, "is not an int");
      }
      if (!AsInt32(value, number)) {
        return Fail(out, codes::kBadInt, path, &value, "is out of int32 range");
      }
      return !strict || CheckRange(type, static_cast<double>(number), codes::kBadInt, path, value, out);
    }
    case DataKind::kFloat:
    case DataKind::kDouble: {
      const bool is_float = type.kind == DataKind::kFloat;
      const int code = is_float ? codes::kBadFloat : codes::kBadDouble;
      if (!value.is_number()) {
        return Fail(out, code, path, &value, is_float ? "is not a float" : "is not a double");
      }
      const double number = value.get<double>();
      if (!std::isfinite(number) || (is_float && std::abs(number) > std::numeric_limits<float>::max())) {
        return Fail(out, code, path, &value, is_float ? "is out of float range" : "is not finite");
      }
      return !strict || CheckRange(type, number, code, path, value, out);
    }
    case DataKind::kBool: {
      std::int64_t number = 0;
      if (!AsInt32(value, number) || (number != 0 && number != 1)) {
        return Fail(out, codes::kBadBool, path, &value, "is not a bool (0 or 1)");
      }
      return true;
    }
    case DataKind::kEnum: {
      std::int64_t number = 0;
      if (!AsInt32(value, number)) {
        return Fail(out, codes::kBadEnum, path, &value, "is not an enum value (integer)");
      }
      if (!strict) {
        return true;
      }
      for (const EnumItem& item : type.items) {
        if (item.key == number) {
          return true;
        }
      }
      return Fail(out, codes::kBadEnum, path, &value, "is not one of the enum values");
    }
    case DataKind::kText: {
      if (!value.is_string()) {
        return Fail(out, codes::kBadText, path, &value, "is not a text");
      }
      const std::size_t bytes = value.get_ref<const json::string_t&>().size();
      if (strict && type.limit != 0 && bytes > type.limit) {
        return Fail(out, codes::kBadText, path, nullptr,
                    "text of " + std::to_string(bytes) + " bytes is longer than length " +
                        std::to_string(type.limit));
      }
      return true;
    }
    case DataKind::kDate: {
      std::int64_t ms = 0;
      if (!value.is_string() || !detail::ParseDigits(value.get_ref<const json::string_t&>(), ms)) {
        return Fail(out, codes::kBadDate, path, &value, "is not a date (a string of UTC milliseconds)");
      }
      return true;
    }
    case DataKind::kStruct:
      if (!value.is_object()) {
        return Fail(out, codes::kBadStruct, path, &value, "is not a struct (object)");
      }
      return CheckObject(type.members, type.member_order, value.get_ref<const json::object_t&>(), mode, path,
                         strict, codes::kBadStruct, out);
    case DataKind::kArray: {
      if (!value.is_array()) {
        return Fail(out, codes::kNotArray, path, &value, "is not an array");
      }
      const auto& items = value.get_ref<const json::array_t&>();
      if (strict && type.limit != 0 && items.size() > type.limit) {
        return Fail(
            out, codes::kBadArray, path, nullptr,
            "has " + std::to_string(items.size()) + " items, more than size " + std::to_string(type.limit));
      }
      if (!type.item) {
        return true;
      }
      for (std::size_t i = 0; i < items.size(); ++i) {
        const Path element{&path, {}, i, true};
        if (!Check(*type.item, items[i], mode, element, out)) {
          return false;
        }
      }
      return true;
    }
  }
  return true;
}

// Integer milliseconds, or a string of digits (some SDKs send times as strings).
bool ParseTime(const json& value, std::int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return false;
    }
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    out = value.get<std::int64_t>();
    return out >= 0;
  }
  return value.is_string() && detail::ParseDigits(value.get_ref<const json::string_t&>(), out);
}

// `value` and `time_ms` go with the refusal so that the gateway can forward it (checkFailedData).
void Refuse(Report& report, std::string_view identifier, Refusal& refusal, const json* value,
            std::int64_t time_ms) {
  refusal.identifier.assign(identifier.data(), identifier.size());
  refusal.value = value;
  refusal.time_ms = time_ms;
  report.refused.push_back(std::move(refusal));
  refusal = Refusal{};
}

void RefuseWith(Report& report, std::string_view identifier, int code, std::string_view reason,
                const json* value, std::int64_t time_ms) {
  Refusal refusal;
  refusal.code = code;
  const Path path{nullptr, identifier};
  Fail(refusal, code, path, nullptr, reason);
  Refuse(report, identifier, refusal, value, time_ms);
}

void RequestError(Report& report, int code, std::string message) {
  report.code = code;
  report.message = std::move(message);
}

// Unwraps {"value": v, "time": t}; false (with a refusal) when the time is bad.
bool Unwrap(const json& raw, std::string_view key, std::int64_t now_ms, const json*& value,
            std::int64_t& time_ms, Report& report) {
  value = &raw;
  time_ms = now_ms;
  if (!raw.is_object()) {
    return true;
  }
  const auto& object = raw.get_ref<const json::object_t&>();
  const auto value_it = object.find("value");
  if (value_it == object.end()) {
    return true;
  }
  value = &value_it->second;
  const auto time_it = object.find("time");
  if (time_it == object.end()) {
    return true;
  }
  if (!ParseTime(time_it->second, time_ms)) {
    RefuseWith(report, key, codes::kBadTime, "time must be integer milliseconds", value, now_ms);
    return false;
  }
  if (time_ms > now_ms + kMaxFutureMs) {
    RefuseWith(report, key, codes::kBadTime, "time " + std::to_string(time_ms) + " is more than 24 h ahead",
               value, time_ms);
    return false;
  }
  return true;
}

bool CheckParams(const json& params, std::size_t max_items, int too_many_code, Report& report) {
  if (!params.is_object()) {
    RequestError(report, codes::kParamError, "params is not an object");
    return false;
  }
  if (params.size() > max_items) {
    RequestError(
        report, too_many_code,
        "params has " + std::to_string(params.size()) + " items, more than " + std::to_string(max_items));
    return false;
  }
  return true;
}

// Validates service inputs or outputs, one item per parameter.
void CheckServiceParams(const ParamList& list, const json::object_t& object, Mode mode, bool require_all,
                        std::int64_t now_ms, Report& report) {
  Refusal refusal;
  std::size_t p = 0;
  const auto& params = list.params;
  const auto& order = list.order;
  for (const auto& [key, value] : object) {
    for (; p < order.size() && std::string_view(params[order[p]].identifier) < key; ++p) {
      if (require_all) {
        RefuseWith(report, params[order[p]].identifier, codes::kMissingInput, "required input is missing",
                   nullptr, now_ms);
      }
    }
    if (p == order.size() || params[order[p]].identifier != key) {
      RefuseWith(report, key, codes::kParamNotExist, "params not exist", &value, now_ms);
      continue;
    }
    const Path path{nullptr, key};
    if (Check(params[order[p]].data_type, value, mode, path, refusal)) {
      report.accepted.push_back(Item{key, &value, now_ms});
    } else {
      Refuse(report, key, refusal, &value, now_ms);
    }
    ++p;
  }
  for (; require_all && p < order.size(); ++p) {
    RefuseWith(report, params[order[p]].identifier, codes::kMissingInput, "required input is missing",
               nullptr, now_ms);
  }
}

}  // namespace

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNone: return "none";
    case Mode::kStrict: return "strict";
    case Mode::kWeak: break;
  }
  return "weak";
}

std::optional<Mode> ParseMode(std::string_view text) {
  if (text == "none") {
    return Mode::kNone;
  }
  if (text == "weak") {
    return Mode::kWeak;
  }
  if (text == "strict") {
    return Mode::kStrict;
  }
  return std::nullopt;
}

void Report::Clear() {
  code = codes::kSuccess;
  message.clear();
  accepted.clear();
  refused.clear();
}

std::optional<Refusal> CheckValue(const DataType& data_type, const nlohmann::json& value, Mode mode,
                                  std::string_view path) {
  if (mode == Mode::kNone) {
    return std::nullopt;
  }
  Refusal refusal;
  const Path root{nullptr, path};
  try {
    if (Check(data_type, value, mode, root, refusal)) {
      return std::nullopt;
    }
  } catch (const std::exception&) {
    Fail(refusal, codes::kSystemError, root, nullptr, "internal error");
  }
  refusal.identifier = std::string(path);
  refusal.value = &value;
  return refusal;
}

namespace {

// The public methods catch std::exception (bad_alloc in practice) so nothing escapes into the
// gateway's I/O callbacks; the checks themselves never throw on any JSON input.
template <class Body>
void Guarded(Report& report, Body&& body) noexcept {
  try {
    body();
  } catch (const std::exception&) {
    report.Clear();
    RequestError(report, codes::kSystemError, "internal validation error");
  }
}

}  // namespace

void Validator::PropertyPost(const json& params, std::int64_t now_ms, Report& out) const {
  out.Clear();
  Guarded(out, [&] {
    if (mode_ != Mode::kNone && model_ == nullptr) {
      return RequestError(out, codes::kPropertyDefsUnavailable, "no published thing model");
    }
    if (!CheckParams(params, kMaxItemsPerPost, codes::kTooManyProperties, out)) {
      return;
    }
    const auto& object = params.get_ref<const json::object_t&>();
    out.accepted.reserve(object.size());
    Refusal refusal;
    for (const auto& [key, raw] : object) {
      const json* value = nullptr;
      std::int64_t time_ms = 0;
      if (!Unwrap(raw, key, now_ms, value, time_ms, out)) {
        continue;
      }
      if (mode_ != Mode::kNone) {
        const Property* property = model_->FindProperty(key);
        if (property == nullptr) {
          RefuseWith(out, key, codes::kParamNotExist, "params not exist", value, time_ms);
          continue;
        }
        const Path path{nullptr, key};
        if (!Check(property->data_type, *value, mode_, path, refusal)) {
          Refuse(out, key, refusal, value, time_ms);
          continue;
        }
      }
      out.accepted.push_back(Item{key, value, time_ms});
    }
  });
}

Report Validator::PropertyPost(const json& params, std::int64_t now_ms) const {
  Report report;
  PropertyPost(params, now_ms, report);
  return report;
}

void Validator::EventPost(std::string_view event_id, const json& params, std::int64_t now_ms,
                          Report& out) const {
  out.Clear();
  Guarded(out, [&] {
    if (mode_ != Mode::kNone && model_ == nullptr) {
      return RequestError(out, codes::kEventDefsUnavailable, "no published thing model");
    }
    if (!params.is_object()) {
      return RequestError(out, codes::kParamError, "params is not an object");
    }
    const json* value = nullptr;
    std::int64_t time_ms = 0;
    if (!Unwrap(params, event_id, now_ms, value, time_ms, out)) {
      return;
    }
    if (!value->is_object()) {
      return RequestError(out, codes::kParamError, "params.value is not an object");
    }
    if (mode_ != Mode::kNone) {
      const Event* event = model_->FindEvent(event_id);
      if (event == nullptr) {
        return RefuseWith(out, event_id, codes::kParamNotExist, "params not exist", value, time_ms);
      }
      Refusal refusal;
      const Path path{nullptr, event_id};
      // Missing outputs are tolerated even in strict mode: devices report what they measured.
      if (!CheckObject(event->outputs.params, event->outputs.order, value->get_ref<const json::object_t&>(),
                       mode_, path, false, codes::kParamNotExist, refusal)) {
        return Refuse(out, event_id, refusal, value, time_ms);
      }
    }
    out.accepted.push_back(Item{event_id, value, time_ms});
  });
}

Report Validator::EventPost(std::string_view event_id, const json& params, std::int64_t now_ms) const {
  Report report;
  EventPost(event_id, params, now_ms, report);
  return report;
}

namespace {

void ValidateService(const ThingModel* model, Mode mode, std::string_view service_id, const json& params,
                     std::int64_t now_ms, bool input, Report& out);

// Property set: plain form only, rw/w properties, in the given mode (strict for PropertySet).
void ValidateSet(const ThingModel* model, Mode mode, const json& params, std::int64_t now_ms, Report& out) {
  if (model == nullptr && mode != Mode::kNone) {
    return RequestError(out, codes::kPropertyDefsUnavailable, "no published thing model");
  }
  if (!CheckParams(params, kMaxItemsPerPost, codes::kTooManyProperties, out)) {
    return;
  }
  const auto& object = params.get_ref<const json::object_t&>();
  out.accepted.reserve(object.size());
  Refusal refusal;
  for (const auto& [key, value] : object) {
    if (mode != Mode::kNone) {
      const Property* property = model->FindProperty(key);
      if (property == nullptr) {
        RefuseWith(out, key, codes::kParamNotExist, "params not exist", &value, now_ms);
        continue;
      }
      if (property->access_mode == AccessMode::kRead) {
        RefuseWith(out, key, codes::kDownlinkSpecMismatch, "property is read-only", &value, now_ms);
        continue;
      }
      const Path path{nullptr, key};
      if (!Check(property->data_type, value, mode, path, refusal)) {
        Refuse(out, key, refusal, &value, now_ms);
        continue;
      }
    }
    out.accepted.push_back(Item{key, &value, now_ms});
  }
}

void ValidateService(const ThingModel* model, Mode mode, std::string_view service_id, const json& params,
                     std::int64_t now_ms, bool input, Report& out) {
  if (input && service_id == "set") {
    return ValidateSet(model, mode, params, now_ms, out);
  }
  if (model == nullptr && mode != Mode::kNone) {
    return RequestError(out, codes::kServiceDefsUnavailable, "no published thing model");
  }
  if (!CheckParams(params, kMaxItemsPerPost, codes::kTooManyProperties, out)) {
    return;
  }
  const auto& object = params.get_ref<const json::object_t&>();
  out.accepted.reserve(object.size());
  if (mode == Mode::kNone) {
    for (const auto& [key, value] : object) {
      out.accepted.push_back(Item{key, &value, now_ms});
    }
    return;
  }
  const Service* service = model->FindService(service_id);
  if (service == nullptr) {
    std::string message = "service ";
    detail::AppendSafe(message, service_id, kMaxShownBytes);
    return RequestError(out, codes::kServiceNotFound, message + " does not exist");
  }
  CheckServiceParams(input ? service->inputs : service->outputs, object, mode, input && mode == Mode::kStrict,
                     now_ms, out);
}

}  // namespace

Report Validator::ServiceInput(std::string_view service_id, const json& params, std::int64_t now_ms) const {
  Report report;
  Guarded(report, [&] { ValidateService(model_, mode_, service_id, params, now_ms, true, report); });
  return report;
}

Report Validator::ServiceOutput(std::string_view service_id, const json& data, std::int64_t now_ms) const {
  Report report;
  Guarded(report, [&] { ValidateService(model_, mode_, service_id, data, now_ms, false, report); });
  return report;
}

Report Validator::PropertySet(const json& params, std::int64_t now_ms) const {
  Report report;
  Guarded(report, [&] {
    if (model_ == nullptr) {
      RequestError(report, codes::kPropertyDefsUnavailable, "no published thing model");
    } else {
      ValidateSet(model_, Mode::kStrict, params, now_ms, report);
    }
  });
  return report;
}

Report Validator::DesiredGet(const json& params, std::int64_t now_ms) const {
  Report report;
  Guarded(report, [&] {
    if (mode_ != Mode::kNone && model_ == nullptr) {
      RequestError(report, codes::kPropertyDefsUnavailable, "no published thing model");
      return;
    }
    if (!params.is_array()) {
      RequestError(report, codes::kParamError, "params is not an array");
      return;
    }
    if (params.size() > kMaxItemsPerPost) {
      RequestError(report, codes::kDesiredTooMany,
                   "params has " + std::to_string(params.size()) + " items, more than 200");
      return;
    }
    const auto& list = params.get_ref<const json::array_t&>();
    report.accepted.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& entry = list[i];
      if (!entry.is_string()) {
        std::string name = "[";
        name += std::to_string(i);
        name += ']';
        RefuseWith(report, name, codes::kParamError, "identifier is not a string", &entry, now_ms);
        continue;
      }
      const std::string_view key = entry.get_ref<const json::string_t&>();
      if (mode_ != Mode::kNone && model_->FindProperty(key) == nullptr) {
        RefuseWith(report, key, codes::kParamNotExist, "params not exist", &entry, now_ms);
        continue;
      }
      report.accepted.push_back(Item{key, &entry, now_ms});
    }
  });
  return report;
}

Report Validator::DesiredDelete(const json& params, std::int64_t now_ms) const {
  Report report;
  Guarded(report, [&] {
    if (mode_ != Mode::kNone && model_ == nullptr) {
      RequestError(report, codes::kPropertyDefsUnavailable, "no published thing model");
      return;
    }
    if (!CheckParams(params, kMaxItemsPerPost, codes::kDesiredTooMany, report)) {
      return;
    }
    for (const auto& [key, value] : params.get_ref<const json::object_t&>()) {
      if (mode_ != Mode::kNone) {
        if (model_->FindProperty(key) == nullptr) {
          RefuseWith(report, key, codes::kParamNotExist, "params not exist", &value, now_ms);
          continue;
        }
        if (!value.is_object()) {
          RefuseWith(report, key, codes::kParamError, "must be an object such as {\"version\":1}", &value,
                     now_ms);
          continue;
        }
        const auto version = value.find("version");
        std::int64_t number = 0;
        if (version != value.end() && !ParseTime(*version, number)) {
          RefuseWith(report, key, codes::kParamError, "version must be a non-negative integer", &value,
                     now_ms);
          continue;
        }
      }
      report.accepted.push_back(Item{key, &value, now_ms});
    }
  });
  return report;
}

}  // namespace iot::tsl

#include "iot/tsl/parser.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "iot/common/json.hpp"
#include "text.hpp"

namespace iot::tsl {
namespace {

static_assert(kMaxDocumentDepth == kMaxJsonDepth, "one depth limit for every JSON from outside");

using nlohmann::json;

constexpr std::array<std::string_view, 7> kReservedWords = {"set",   "get",  "post", "property",
                                                            "event", "time", "value"};
// `value` and `time` would make the wrapped {"value","time"} form ambiguous.
constexpr std::array<std::string_view, 2> kReservedMemberWords = {"time", "value"};

enum class Level { kTop, kMember, kArrayItem };
enum class Reserved { kNone, kMember, kFeature };

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  detail::AppendSafe(out, text, 40);
  out += '"';
  return out;
}

std::string Describe(const json& value) {
  switch (value.type()) {
    case json::value_t::string: return Quoted(value.get_ref<const json::string_t&>());
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::null: return "null";
    case json::value_t::boolean: return value.get<bool>() ? "true" : "false";
    default: return value.dump();  // numbers: never recursive
  }
}

bool IsIdentifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Reads one TSL document, collecting problems; the builders return what they could read so that
// checks further down still run.
class Reader {
 public:
  explicit Reader(std::vector<Problem>& problems) : problems_(problems) {}

  void Add(const std::string& pointer, std::string message) {
    if (problems_.size() < kMaxProblems) {
      problems_.push_back(Problem{{}, pointer, std::move(message)});
    } else {
      ++dropped_;
    }
  }

  void Finish() {
    if (dropped_ > 0) {
      problems_.push_back(Problem{{}, "", std::to_string(dropped_) + " more problems not listed"});
    }
  }

  Module ReadModule(const json& doc) {
    Module module;
    if (!doc.is_object()) {
      Add("", "a TSL document must be a JSON object");
      return module;
    }
    module.schema = OptionalString(doc, "schema", "");
    ReadProfile(doc, module);
    if (const auto it = doc.find("functionBlockId"); it != doc.end()) {
      if (!it->is_string()) {
        Add("/functionBlockId", "functionBlockId must be a string");
      } else {
        const auto& id = it->get_ref<const std::string&>();
        if (!MatchesIdentifier(id, kMaxFunctionBlockIdLength)) {
          Add("/functionBlockId", "functionBlockId must match ^[_a-zA-Z0-9]{1,30}$");
        } else {
          module.function_block_id = id;
        }
      }
      module.function_block_name = Name(doc, "", "functionBlockName");
    } else if (doc.contains("functionBlockName")) {
      module.function_block_name = Name(doc, "", "functionBlockName");
    }

    const json* properties = OptionalArray(doc, "properties", "");
    if (properties != nullptr) {
      module.properties.reserve(properties->size());
      for (std::size_t i = 0; i < properties->size(); ++i) {
        ReadProperty((*properties)[i], "/properties/" + std::to_string(i), module);
      }
    }
    if (const json* events = OptionalArray(doc, "events", ""); events != nullptr) {
      for (std::size_t i = 0; i < events->size(); ++i) {
        ReadEvent((*events)[i], "/events/" + std::to_string(i), module);
      }
    }
    if (const json* services = OptionalArray(doc, "services", ""); services != nullptr) {
      for (std::size_t i = 0; i < services->size(); ++i) {
        ReadService((*services)[i], "/services/" + std::to_string(i), module);
      }
    }
    return module;
  }

 private:
  void ReadProfile(const json& doc, Module& module) {
    const auto it = doc.find("profile");
    if (it == doc.end() || !it->is_object()) {
      Add(it == doc.end() ? "" : "/profile", "profile must be an object with a productKey");
      return;
    }
    const auto pk = it->find("productKey");
    if (pk == it->end() || !pk->is_string() || pk->get_ref<const std::string&>().empty()) {
      Add("/profile/productKey", "productKey must be a non-empty string");
    } else if (pk->get_ref<const std::string&>().size() > 64 ||
               !detail::IsValidUtf8(pk->get_ref<const std::string&>())) {
      Add("/profile/productKey", "productKey must be valid UTF-8 of at most 64 bytes");
    } else {
      module.product_key = pk->get_ref<const std::string&>();
    }
    module.profile_version = OptionalString(*it, "version", "/profile");
  }

  // Claims `identifier` in the module's one feature namespace (properties, events, services).
  void ClaimFeature(const std::string& identifier, const std::string& pointer) {
    if (identifier.empty()) {
      return;
    }
    const auto [it, inserted] = features_.emplace(identifier, pointer);
    if (!inserted) {
      Add(pointer + "/identifier",
          "duplicate identifier " + Quoted(identifier) + " (first used at " + it->second + ")");
    }
  }

  void ReadProperty(const json& node, const std::string& ptr, Module& module) {
    if (!node.is_object()) {
      Add(ptr, "a property must be an object");
      return;
    }
    Property property;
    property.identifier = Identifier(node, ptr, Reserved::kFeature);
    ClaimFeature(property.identifier, ptr);
    property.name = Name(node, ptr, "name");
    property.desc = Desc(node, ptr);
    property.required = OptionalBool(node, "required", ptr);
    const auto mode = node.find("accessMode");
    if (mode == node.end() || !mode->is_string()) {
      Add(ptr + "/accessMode", "accessMode must be \"r\" or \"rw\"");
    } else if (*mode == "r") {
      property.access_mode = AccessMode::kRead;
    } else if (*mode == "rw") {
      property.access_mode = AccessMode::kReadWrite;
    } else if (*mode == "w") {
      property.access_mode = AccessMode::kWrite;
    } else {
      Add(ptr + "/accessMode", "accessMode must be \"r\" or \"rw\", not " + Describe(*mode));
    }
    property.data_type = DataTypeField(node, ptr, Level::kTop);
    module.properties.push_back(std::move(property));
  }

  void ReadEvent(const json& node, const std::string& ptr, Module& module) {
    if (!node.is_object()) {
      Add(ptr, "an event must be an object");
      return;
    }
    const auto id = node.find("identifier");
    if (id != node.end() && *id == "post") {
      // Built-in property report: its outputData is derived from the properties on export.
      ClaimFeature("post", ptr);
      if (node.contains("name")) {
        module.post_name = Name(node, ptr, "name");
      }
      module.post_desc = Desc(node, ptr);
      return;
    }
    Event event;
    event.identifier = Identifier(node, ptr, Reserved::kFeature);
    ClaimFeature(event.identifier, ptr);
    event.name = Name(node, ptr, "name");
    event.desc = Desc(node, ptr);
    event.required = OptionalBool(node, "required", ptr);
    const auto type = node.find("type");
    if (type != node.end() && *type == "info") {
      event.type = EventType::kInfo;
    } else if (type != node.end() && *type == "alert") {
      event.type = EventType::kAlert;
    } else if (type != node.end() && *type == "error") {
      event.type = EventType::kError;
    } else {
      Add(ptr + "/type", "event type must be \"info\", \"alert\" or \"error\"");
    }
    event.outputs.params = Params(node, ptr, "outputData", Reserved::kMember);
    module.events.push_back(std::move(event));
  }

  void ReadService(const json& node, const std::string& ptr, Module& module) {
    if (!node.is_object()) {
      Add(ptr, "a service must be an object");
      return;
    }
    const auto id = node.find("identifier");
    if (id != node.end() && (*id == "set" || *id == "get")) {
      // Built-ins: inputData/outputData are derived from the properties on export.
      const bool is_set = *id == "set";
      ClaimFeature(is_set ? "set" : "get", ptr);
      std::string& name = is_set ? module.set_name : module.get_name;
      if (node.contains("name")) {
        name = Name(node, ptr, "name");
      }
      (is_set ? module.set_desc : module.get_desc) = Desc(node, ptr);
      return;
    }
    Service service;
    service.identifier = Identifier(node, ptr, Reserved::kFeature);
    ClaimFeature(service.identifier, ptr);
    service.name = Name(node, ptr, "name");
    service.desc = Desc(node, ptr);
    service.required = OptionalBool(node, "required", ptr);
    if (const auto call = node.find("callType"); call != node.end()) {
      if (*call == "async") {
        service.call_type = CallType::kAsync;
      } else if (*call == "sync") {
        service.call_type = CallType::kSync;
      } else {
        Add(ptr + "/callType", "callType must be \"async\" or \"sync\"");
      }
    }
    service.inputs.params = Params(node, ptr, "inputData", Reserved::kNone);
    service.outputs.params = Params(node, ptr, "outputData", Reserved::kNone);
    module.services.push_back(std::move(service));
  }

  // inputData / outputData / struct specs: a list of {identifier, name, dataType}.
  std::vector<Param> ParamArray(const json& list, const std::string& ptr, Reserved reserved, Level level) {
    std::vector<Param> params;
    params.reserve(list.size());
    std::set<std::string, std::less<>> seen;
    for (std::size_t i = 0; i < list.size(); ++i) {
      const json& node = list[i];
      const std::string item_ptr = ptr + "/" + std::to_string(i);
      if (!node.is_object()) {
        Add(item_ptr, "a parameter must be an object with identifier, name and dataType");
        continue;
      }
      Param param;
      param.identifier = Identifier(node, item_ptr, reserved);
      if (!param.identifier.empty() && !seen.insert(param.identifier).second) {
        Add(item_ptr + "/identifier", "duplicate identifier " + Quoted(param.identifier));
      }
      param.name = Name(node, item_ptr, "name");
      param.data_type = DataTypeField(node, item_ptr, level);
      params.push_back(std::move(param));
    }
    return params;
  }

  std::vector<Param> Params(const json& node, const std::string& ptr, const char* key, Reserved reserved) {
    const json* list = OptionalArray(node, key, ptr);
    if (list == nullptr) {
      return {};
    }
    return ParamArray(*list, ptr + "/" + key, reserved, Level::kTop);
  }

  DataType DataTypeField(const json& owner, const std::string& owner_ptr, Level level) {
    const auto it = owner.find("dataType");
    if (it == owner.end()) {
      Add(owner_ptr + "/dataType", "dataType is required");
      return {};
    }
    return ReadDataType(*it, owner_ptr + "/dataType", level);
  }

  DataType ReadDataType(const json& node, const std::string& ptr, Level level) {
    DataType data_type;
    if (!node.is_object()) {
      Add(ptr, "dataType must be an object with type and specs");
      return data_type;
    }
    const auto type = node.find("type");
    if (type == node.end() || !type->is_string()) {
      Add(ptr + "/type", "type must be a string");
      return data_type;
    }
    const auto kind = ParseKind(type->get_ref<const std::string&>());
    if (!kind) {
      Add(ptr + "/type", "unknown data type " + Describe(*type));
      return data_type;
    }
    data_type.kind = *kind;
    if (level == Level::kMember && (*kind == DataKind::kStruct || *kind == DataKind::kArray)) {
      Add(ptr + "/type", std::string("a struct member cannot be of type ") + std::string(KindName(*kind)));
      return data_type;
    }
    if (level == Level::kArrayItem && (*kind == DataKind::kDate || *kind == DataKind::kBool ||
                                       *kind == DataKind::kEnum || *kind == DataKind::kArray)) {
      Add(ptr + "/type", *kind == DataKind::kArray
                             ? "array of array is not supported"
                             : std::string("array item type must be int, float, double, text or "
                                           "struct, not ") +
                                   std::string(KindName(*kind)));
      return data_type;
    }

    const auto specs_it = node.find("specs");
    const std::string specs_ptr = ptr + "/specs";
    if (specs_it == node.end()) {
      data_type.has_specs = false;
      const bool optional = *kind == DataKind::kDate || *kind == DataKind::kInt ||
                            *kind == DataKind::kFloat || *kind == DataKind::kDouble ||
                            (*kind == DataKind::kText && level == Level::kArrayItem);
      if (!optional) {
        Add(specs_ptr, "specs is required for type " + std::string(KindName(*kind)));
      }
      return data_type;
    }
    const json& specs = *specs_it;
    switch (*kind) {
      case DataKind::kInt:
      case DataKind::kFloat:
      case DataKind::kDouble: ReadNumberSpecs(specs, specs_ptr, data_type); break;
      case DataKind::kText:
        if (!specs.is_object()) {
          Add(specs_ptr, "text specs must be an object with length");
        } else if (specs.contains("length") || level != Level::kArrayItem) {
          data_type.length = Limit(specs, specs_ptr, "length", kMaxTextLength, data_type.limit);
        }
        break;
      case DataKind::kDate:
        if (!specs.is_object()) {
          Add(specs_ptr, "date specs must be an object");
        }
        break;
      case DataKind::kBool:
      case DataKind::kEnum: ReadLabels(specs, specs_ptr, data_type); break;
      case DataKind::kStruct:
        if (!specs.is_array()) {
          Add(specs_ptr, "struct specs must be an array of members");
        } else if (specs.empty()) {
          Add(specs_ptr, "a struct needs at least one member");
        } else if (specs.size() > kMaxStructMembers) {
          Add(specs_ptr, "a struct has at most 50 members, not " + std::to_string(specs.size()));
        } else {
          data_type.members = ParamArray(specs, specs_ptr, Reserved::kMember, Level::kMember);
        }
        break;
      case DataKind::kArray: ReadArraySpecs(specs, specs_ptr, data_type); break;
    }
    return data_type;
  }

  // min/max/step: numeric strings (JSON numbers are accepted and normalised to their text).
  std::optional<std::string> NumberSpec(const json& specs, const std::string& ptr, const char* key,
                                        DataKind kind, std::optional<double>& value) {
    const auto it = specs.find(key);
    if (it == specs.end()) {
      return std::nullopt;
    }
    std::string text;
    if (it->is_string()) {
      text = it->get_ref<const std::string&>();
    } else if (it->is_number()) {
      text = it->dump();
    } else {
      Add(ptr + "/" + key, std::string(key) + " must be a numeric string");
      return std::nullopt;
    }
    double number = 0;
    if (kind == DataKind::kInt) {
      std::int64_t integer = 0;
      if (!detail::ParseCanonicalInt(text, integer) || integer < std::numeric_limits<std::int32_t>::min() ||
          integer > std::numeric_limits<std::int32_t>::max()) {
        Add(ptr + "/" + key,
            std::string(key) + " must be an integer string within int32, not " + Quoted(text));
        return std::nullopt;
      }
      number = static_cast<double>(integer);
    } else if (!detail::ParseDecimal(text, number) ||
               (kind == DataKind::kFloat && std::abs(number) > std::numeric_limits<float>::max())) {
      Add(ptr + "/" + key, std::string(key) + " must be a " + std::string(KindName(kind)) +
                               " number string, not " + Quoted(text));
      return std::nullopt;
    }
    value = number;
    return text;
  }

  void ReadNumberSpecs(const json& specs, const std::string& ptr, DataType& data_type) {
    if (!specs.is_object()) {
      Add(ptr, "number specs must be an object with min, max and step");
      return;
    }
    data_type.min = NumberSpec(specs, ptr, "min", data_type.kind, data_type.min_value);
    data_type.max = NumberSpec(specs, ptr, "max", data_type.kind, data_type.max_value);
    std::optional<double> step;
    data_type.step = NumberSpec(specs, ptr, "step", data_type.kind, step);
    if (data_type.min_value && data_type.max_value && *data_type.min_value > *data_type.max_value) {
      Add(ptr + "/min", "min " + *data_type.min + " is greater than max " + *data_type.max);
    }
    if (step && *step <= 0) {
      Add(ptr + "/step", "step must be greater than 0");
    }
    data_type.unit = OptionalStringField(specs, "unit", ptr);
    data_type.unit_name = OptionalStringField(specs, "unitName", ptr);
  }

  // text length / array size: an integer string within 1..max.
  std::optional<std::string> Limit(const json& specs, const std::string& ptr, const char* key,
                                   std::uint32_t max, std::uint32_t& limit) {
    const auto it = specs.find(key);
    const std::string key_ptr = ptr + "/" + key;
    const std::string rule = std::string(key) + " must be an integer string from 1 to " + std::to_string(max);
    if (it == specs.end()) {
      Add(key_ptr, rule);
      return std::nullopt;
    }
    std::string text;
    if (it->is_string()) {
      text = it->get_ref<const std::string&>();
    } else if (it->is_number_integer()) {
      text = it->dump();
    }
    std::int64_t value = 0;
    if (!detail::ParseCanonicalInt(text, value) || value < 1 || value > max) {
      Add(key_ptr, rule + (text.empty() ? "" : ", not " + Quoted(text)));
      return std::nullopt;
    }
    limit = static_cast<std::uint32_t>(value);
    return text;
  }

  void ReadLabels(const json& specs, const std::string& ptr, DataType& data_type) {
    const bool is_bool = data_type.kind == DataKind::kBool;
    if (!specs.is_object()) {
      Add(ptr, is_bool ? "bool specs must be an object {\"0\": label, \"1\": label}"
                       : "enum specs must be an object {\"<integer>\": label, ...}");
      return;
    }
    if (is_bool && (!specs.contains("0") || !specs.contains("1"))) {
      Add(ptr, "bool specs need exactly the keys \"0\" and \"1\"");
    }
    if (!is_bool && specs.empty()) {
      Add(ptr, "an enum needs at least one item");
    }
    if (!is_bool && specs.size() > kMaxEnumItems) {
      Add(ptr, "an enum has at most 100 items, not " + std::to_string(specs.size()));
      return;
    }
    for (const auto& [key, label] : specs.items()) {
      const std::string key_ptr = ptr + "/" + detail::JsonPointerEscape(key);
      std::int64_t number = 0;
      if (is_bool && key != "0" && key != "1") {
        Add(key_ptr, "bool specs allow only the keys \"0\" and \"1\", not " + Quoted(key));
        continue;
      }
      if (!detail::ParseCanonicalInt(key, number) || number < std::numeric_limits<std::int32_t>::min() ||
          number > std::numeric_limits<std::int32_t>::max()) {
        Add(key_ptr, "enum keys must be integer strings within int32, not " + Quoted(key));
        continue;
      }
      if (!label.is_string()) {
        Add(key_ptr, "a label must be a string");
        continue;
      }
      const auto& text = label.get_ref<const std::string&>();
      if (text.empty() || !detail::IsValidUtf8(text) || detail::Utf8Chars(text) > kMaxLabelChars) {
        Add(key_ptr, "a label must be 1 to 20 characters of UTF-8");
        continue;
      }
      data_type.items.push_back(EnumItem{number, key, text});
    }
  }

  void ReadArraySpecs(const json& specs, const std::string& ptr, DataType& data_type) {
    if (!specs.is_object()) {
      Add(ptr, "array specs must be an object with size and item");
      return;
    }
    data_type.size = Limit(specs, ptr, "size", kMaxArraySize, data_type.limit);
    const auto item = specs.find("item");
    if (item == specs.end()) {
      Add(ptr + "/item", "array specs need an item type");
      return;
    }
    data_type.item = std::make_shared<DataType>(ReadDataType(*item, ptr + "/item", Level::kArrayItem));
  }

  std::string Identifier(const json& node, const std::string& ptr, Reserved reserved) {
    const auto it = node.find("identifier");
    const std::string id_ptr = ptr + "/identifier";
    if (it == node.end() || !it->is_string()) {
      Add(id_ptr, "identifier must be a string");
      return {};
    }
    const auto& id = it->get_ref<const std::string&>();
    if (!MatchesIdentifier(id, kMaxIdentifierLength)) {
      Add(id_ptr,
          id.size() > kMaxIdentifierLength
              ? "identifier must match ^[a-zA-Z0-9_]{1,50}$ (it has " + std::to_string(id.size()) + " bytes)"
              : "identifier must match ^[a-zA-Z0-9_]{1,50}$, not " + Quoted(id));
      return {};
    }
    bool is_reserved = false;
    if (reserved == Reserved::kFeature) {
      for (const auto word : kReservedWords) {
        is_reserved = is_reserved || id == word;
      }
    } else if (reserved == Reserved::kMember) {
      for (const auto word : kReservedMemberWords) {
        is_reserved = is_reserved || id == word;
      }
    }
    if (is_reserved) {
      Add(id_ptr, "identifier " + Quoted(id) + " is a reserved word");
      return {};
    }
    return id;
  }

  static bool MatchesIdentifier(const std::string& id, std::size_t max_length) {
    if (id.empty() || id.size() > max_length) {
      return false;
    }
    for (const char c : id) {
      if (!IsIdentifierChar(c)) {
        return false;
      }
    }
    return true;
  }

  std::string Name(const json& node, const std::string& ptr, const char* key) {
    const auto it = node.find(key);
    const std::string name_ptr = ptr + "/" + key;
    if (it == node.end() || !it->is_string()) {
      Add(name_ptr, std::string(key) + " must be a string");
      return {};
    }
    const auto& name = it->get_ref<const std::string&>();
    if (!detail::IsValidUtf8(name)) {
      Add(name_ptr, std::string(key) + " is not valid UTF-8");
      return {};
    }
    const std::size_t chars = detail::Utf8Chars(name);
    if (chars == 0 || chars > kMaxNameChars) {
      Add(name_ptr, std::string(key) + " must have 1 to 30 characters, not " + std::to_string(chars));
      return {};
    }
    const unsigned char first = static_cast<unsigned char>(name.front());
    if (first < 0x80 && !std::isalnum(first)) {
      Add(name_ptr, std::string(key) + " must start with a letter, digit or CJK character");
      return {};
    }
    return name;
  }

  std::string Desc(const json& node, const std::string& ptr) {
    const auto it = node.find("desc");
    if (it == node.end() || it->is_null()) {
      return {};
    }
    if (!it->is_string() || !detail::IsValidUtf8(it->get_ref<const std::string&>()) ||
        detail::Utf8Chars(it->get_ref<const std::string&>()) > kMaxDescChars) {
      Add(ptr + "/desc", "desc must be a UTF-8 string of at most 100 characters");
      return {};
    }
    return it->get<std::string>();
  }

  bool OptionalBool(const json& node, const char* key, const std::string& ptr) {
    const auto it = node.find(key);
    if (it == node.end()) {
      return false;
    }
    if (!it->is_boolean()) {
      Add(ptr + "/" + key, std::string(key) + " must be true or false");
      return false;
    }
    return it->get<bool>();
  }

  std::string OptionalString(const json& node, const char* key, const std::string& ptr) {
    auto value = OptionalStringField(node, key, ptr);
    return value ? std::move(*value) : std::string();
  }

  std::optional<std::string> OptionalStringField(const json& node, const char* key, const std::string& ptr) {
    const auto it = node.find(key);
    if (it == node.end()) {
      return std::nullopt;
    }
    if (!it->is_string() || it->get_ref<const std::string&>().size() > 1024 ||
        !detail::IsValidUtf8(it->get_ref<const std::string&>())) {
      Add(ptr + "/" + key, std::string(key) + " must be a UTF-8 string of at most 1024 bytes");
      return std::nullopt;
    }
    return it->get<std::string>();
  }

  const json* OptionalArray(const json& node, const char* key, const std::string& ptr) {
    const auto it = node.find(key);
    if (it == node.end()) {
      return nullptr;
    }
    if (!it->is_array()) {
      Add(ptr + "/" + key, std::string(key) + " must be an array");
      return nullptr;
    }
    return &*it;
  }

  std::vector<Problem>& problems_;
  std::size_t dropped_ = 0;
  std::map<std::string, std::string, std::less<>> features_;  // identifier -> first pointer
};

}  // namespace

ModuleResult ParseModuleDocument(const nlohmann::json& document) {
  ModuleResult result;
  try {
    Reader reader(result.problems);
    Module module = reader.ReadModule(document);
    reader.Finish();
    for (Problem& problem : result.problems) {
      problem.module = module.function_block_id;
    }
    if (result.problems.empty()) {
      result.module = std::move(module);
    }
  } catch (const std::exception& e) {  // bad_alloc or a library bug: report, never throw
    result.problems.push_back(Problem{{}, "", std::string("internal error: ") + e.what()});
    result.module.reset();
  }
  return result;
}

ModuleResult ParseModule(std::string_view json_text) {
  ModuleResult result;
  if (json_text.size() > kMaxDocumentBytes) {
    result.problems.push_back(
        Problem{{}, "", "document is larger than " + std::to_string(kMaxDocumentBytes) + " bytes"});
    return result;
  }
  json document;
  switch (ParseJson(json_text, document, {.max_depth = kMaxDocumentDepth})) {
    case JsonParseStatus::kOk: break;
    case JsonParseStatus::kTooDeep:
      result.problems.push_back(Problem{{}, "", JsonTooDeepMessage(kMaxDocumentDepth)});
      return result;
    case JsonParseStatus::kMalformed:
      result.problems.push_back(Problem{{}, "", "document is not valid JSON (or not valid UTF-8)"});
      return result;
  }
  return ParseModuleDocument(document);
}

ModelResult BuildThingModel(Module default_module, std::vector<Module> custom_modules) {
  ModelResult result;
  auto add = [&](const std::string& module, const char* pointer, std::string message) {
    result.problems.push_back(Problem{module, pointer, std::move(message)});
  };
  if (!default_module.function_block_id.empty()) {
    add(default_module.function_block_id, "/functionBlockId",
        "the default module must not have a functionBlockId");
  }
  if (1 + custom_modules.size() > kMaxModules) {
    add("", "", "a product has at most 20 modules, not " + std::to_string(1 + custom_modules.size()));
  }
  std::set<std::string, std::less<>> ids;
  for (const Module& module : custom_modules) {
    if (module.function_block_id.empty()) {
      add("", "/functionBlockId", "a custom module needs a functionBlockId");
    } else if (!ids.insert(module.function_block_id).second) {
      add(module.function_block_id, "/functionBlockId",
          "duplicate functionBlockId \"" + module.function_block_id + "\"");
    }
    if (module.product_key != default_module.product_key) {
      add(module.function_block_id, "/profile/productKey", "productKey differs from the default module's");
    }
  }
  if (result.problems.empty()) {
    result.model.emplace(std::move(default_module), std::move(custom_modules));
  }
  return result;
}

ModelResult ParseThingModel(std::string_view default_tsl, const std::vector<std::string_view>& custom_tsls) {
  ModelResult result;
  ModuleResult parsed = ParseModule(default_tsl);
  result.problems = std::move(parsed.problems);
  std::vector<Module> custom;
  custom.reserve(custom_tsls.size());
  for (std::size_t i = 0; i < custom_tsls.size(); ++i) {
    ModuleResult one = ParseModule(custom_tsls[i]);
    for (Problem& problem : one.problems) {
      // A custom document that failed before its functionBlockId was read is named by position.
      if (problem.module.empty()) {
        problem.module.assign(1, '#');
        problem.module += std::to_string(i + 1);
      }
      result.problems.push_back(std::move(problem));
    }
    if (one.module) {
      custom.push_back(std::move(*one.module));
    }
  }
  if (!result.problems.empty() || !parsed.module) {
    return result;
  }
  return BuildThingModel(std::move(*parsed.module), std::move(custom));
}

}  // namespace iot::tsl

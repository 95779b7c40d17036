#pragma once

// In-memory thing model (TSL, reference §1): the default module plus custom modules, with
// hash-map lookups by "id" or "functionBlockId:id" for the gateway's hot path.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace iot::tsl {

enum class DataKind { kInt, kFloat, kDouble, kText, kDate, kBool, kEnum, kStruct, kArray };
enum class AccessMode { kRead, kReadWrite, kWrite };
enum class EventType { kInfo, kAlert, kError };
enum class CallType { kAsync, kSync };

// TSL spelling ("int", "rw", "alert", "sync", ...).
std::string_view KindName(DataKind kind);
std::optional<DataKind> ParseKind(std::string_view text);
std::string_view AccessModeName(AccessMode mode);
std::string_view EventTypeName(EventType type);
std::string_view CallTypeName(CallType type);

struct Param;

// One bool/enum label: the key as written ("1") and as a number.
struct EnumItem {
  std::int64_t key = 0;
  std::string key_text;
  std::string label;
};

// A `dataType` object. Spec numbers keep their original strings so export is exact; the parsed
// numbers next to them serve validation.
struct DataType {
  DataKind kind = DataKind::kInt;
  bool has_specs = true;  // false only for array items written without "specs"

  // int / float / double
  std::optional<std::string> min, max, step, unit, unit_name;
  std::optional<double> min_value, max_value;

  // text: "length" (bytes); array: "size" (max elements). Empty limit = none (array items only).
  std::optional<std::string> length;
  std::optional<std::string> size;
  std::uint32_t limit = 0;  // parsed length or size; 0 = unlimited

  // bool / enum, in document order
  std::vector<EnumItem> items;

  // struct members (document order) and their indices sorted by identifier (filled by ThingModel)
  std::vector<Param> members;
  std::vector<std::uint16_t> member_order;

  // array element type
  std::shared_ptr<DataType> item;
};

// A struct member, an event output or a service input/output.
struct Param {
  std::string identifier;
  std::string name;
  DataType data_type;
};

// Parameter list with an index sorted by identifier, so the validator can merge-walk it against a
// JSON object (whose keys are sorted) instead of searching per key.
struct ParamList {
  std::vector<Param> params;
  std::vector<std::uint16_t> order;  // filled by ThingModel
};

struct Property {
  std::string identifier;
  std::string name;
  std::string desc;
  AccessMode access_mode = AccessMode::kReadWrite;
  bool required = false;
  DataType data_type;
};

struct Event {
  std::string identifier;
  std::string name;
  std::string desc;
  EventType type = EventType::kInfo;
  bool required = false;
  ParamList outputs;
};

struct Service {
  std::string identifier;
  std::string name;
  std::string desc;
  CallType call_type = CallType::kAsync;
  bool required = false;
  ParamList inputs;
  ParamList outputs;
};

// One TSL document. The built-in `post` event and `set`/`get` services are not stored: they are
// derived from the properties on export.
struct Module {
  std::string schema;
  std::string product_key;
  std::string profile_version;    // profile.version, "" when absent
  std::string function_block_id;  // "" for the default module
  std::string function_block_name;
  std::vector<Property> properties;
  std::vector<Event> events;      // custom events only
  std::vector<Service> services;  // custom services only
  // Names/descs of the built-ins as read (export keeps them; defaults when absent).
  std::string post_name = "post", post_desc;
  std::string set_name = "set", set_desc;
  std::string get_name = "get", get_desc;
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

template <class T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

// A product's model: the default module plus up to 19 custom modules. Immutable once built; share
// it between threads as std::shared_ptr<const ThingModel>. Move-only, because the lookup maps
// point into the modules.
class ThingModel {
 public:
  ThingModel() = default;
  ThingModel(const ThingModel&) = delete;
  ThingModel& operator=(const ThingModel&) = delete;
  ThingModel(ThingModel&&) noexcept = default;
  ThingModel& operator=(ThingModel&&) noexcept = default;

  // Takes the modules as parsed; custom modules must have distinct function_block_ids. Does not
  // re-check them (use ParseThingModel for untrusted input).
  ThingModel(Module default_module, std::vector<Module> custom_modules);

  const Module& default_module() const { return modules_.front(); }
  // All modules, the default one first.
  const std::vector<Module>& modules() const { return modules_; }
  const Module* FindModule(std::string_view function_block_id) const;
  const std::string& product_key() const { return default_module().product_key; }

  // `key` is "id" (default module) or "functionBlockId:id".
  const Property* FindProperty(std::string_view key) const;
  const Event* FindEvent(std::string_view key) const;
  const Service* FindService(std::string_view key) const;

 private:
  void Index();

  std::vector<Module> modules_ = std::vector<Module>(1);
  StringMap<const Property*> properties_;
  StringMap<const Event*> events_;
  StringMap<const Service*> services_;
};

}  // namespace iot::tsl

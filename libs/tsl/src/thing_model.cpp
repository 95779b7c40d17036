#include "iot/tsl/thing_model.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace iot::tsl {
namespace {

constexpr std::array<std::string_view, 9> kKindNames = {"int",  "float", "double", "text", "date",
                                                        "bool", "enum",  "struct", "array"};

// Sorted by identifier with the same byte order as std::map<std::string, ...>, which is what
// nlohmann::json objects use; the validator merge-walks the two.
void SortParams(const std::vector<Param>& params, std::vector<std::uint16_t>& order) {
  order.resize(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    order[i] = static_cast<std::uint16_t>(i);
  }
  std::sort(order.begin(), order.end(), [&](std::uint16_t a, std::uint16_t b) {
    return std::string_view(params[a].identifier) < std::string_view(params[b].identifier);
  });
}

void IndexDataType(DataType& data_type);

void IndexParams(std::vector<Param>& params, std::vector<std::uint16_t>& order) {
  for (Param& param : params) {
    IndexDataType(param.data_type);
  }
  SortParams(params, order);
}

void IndexDataType(DataType& data_type) {
  IndexParams(data_type.members, data_type.member_order);
  if (data_type.item) {
    IndexDataType(*data_type.item);
  }
}

std::string Key(const Module& module, const std::string& identifier) {
  if (module.function_block_id.empty()) {
    return identifier;
  }
  std::string key;
  key.reserve(module.function_block_id.size() + 1 + identifier.size());
  key.append(module.function_block_id).append(1, ':').append(identifier);
  return key;
}

}  // namespace

std::string_view KindName(DataKind kind) { return kKindNames[static_cast<std::size_t>(kind)]; }

std::optional<DataKind> ParseKind(std::string_view text) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == text) {
      return static_cast<DataKind>(i);
    }
  }
  return std::nullopt;
}

std::string_view AccessModeName(AccessMode mode) {
  switch (mode) {
    case AccessMode::kRead: return "r";
    case AccessMode::kWrite: return "w";
    case AccessMode::kReadWrite: break;
  }
  return "rw";
}

std::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kAlert: return "alert";
    case EventType::kError: return "error";
    case EventType::kInfo: break;
  }
  return "info";
}

std::string_view CallTypeName(CallType type) { return type == CallType::kSync ? "sync" : "async"; }

ThingModel::ThingModel(Module default_module, std::vector<Module> custom_modules) {
  modules_.clear();
  modules_.reserve(1 + custom_modules.size());
  modules_.push_back(std::move(default_module));
  for (Module& module : custom_modules) {
    modules_.push_back(std::move(module));
  }
  Index();
}

void ThingModel::Index() {
  for (Module& module : modules_) {
    for (Property& property : module.properties) {
      IndexDataType(property.data_type);
      properties_.emplace(Key(module, property.identifier), &property);
    }
    for (Event& event : module.events) {
      IndexParams(event.outputs.params, event.outputs.order);
      events_.emplace(Key(module, event.identifier), &event);
    }
    for (Service& service : module.services) {
      IndexParams(service.inputs.params, service.inputs.order);
      IndexParams(service.outputs.params, service.outputs.order);
      services_.emplace(Key(module, service.identifier), &service);
    }
  }
}

const Module* ThingModel::FindModule(std::string_view function_block_id) const {
  for (const Module& module : modules_) {
    if (module.function_block_id == function_block_id) {
      return &module;
    }
  }
  return nullptr;
}

const Property* ThingModel::FindProperty(std::string_view key) const {
  const auto it = properties_.find(key);
  return it == properties_.end() ? nullptr : it->second;
}

const Event* ThingModel::FindEvent(std::string_view key) const {
  const auto it = events_.find(key);
  return it == events_.end() ? nullptr : it->second;
}

const Service* ThingModel::FindService(std::string_view key) const {
  const auto it = services_.find(key);
  return it == services_.end() ? nullptr : it->second;
}

}  // namespace iot::tsl

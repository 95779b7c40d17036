#include "iot/tsl/export.hpp"

#include <string>

#include <nlohmann/json.hpp>

namespace iot::tsl {
namespace {

using nlohmann::json;

constexpr const char* kDefaultSchema = "https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json";

void PutIfSet(json& object, const char* key, const std::optional<std::string>& value) {
  if (value) {
    object[key] = *value;
  }
}

json ExportParam(const Param& param) {
  return json{
      {"identifier", param.identifier}, {"name", param.name}, {"dataType", ExportDataType(param.data_type)}};
}

json ExportParams(const std::vector<Param>& params) {
  json list = json::array();
  for (const Param& param : params) {
    list.push_back(ExportParam(param));
  }
  return list;
}

// A property as an event output / service parameter (post, set, get).
json PropertyAsParam(const Property& property) {
  return json{{"identifier", property.identifier},
              {"name", property.name},
              {"dataType", ExportDataType(property.data_type)}};
}

void PutDesc(json& object, const std::string& desc) {
  if (!desc.empty()) {
    object["desc"] = desc;
  }
}

}  // namespace

json ExportDataType(const DataType& data_type) {
  json out{{"type", std::string(KindName(data_type.kind))}};
  if (!data_type.has_specs) {
    return out;
  }
  json specs = json::object();
  switch (data_type.kind) {
    case DataKind::kInt:
    case DataKind::kFloat:
    case DataKind::kDouble:
      PutIfSet(specs, "min", data_type.min);
      PutIfSet(specs, "max", data_type.max);
      PutIfSet(specs, "step", data_type.step);
      PutIfSet(specs, "unit", data_type.unit);
      PutIfSet(specs, "unitName", data_type.unit_name);
      break;
    case DataKind::kText: PutIfSet(specs, "length", data_type.length); break;
    case DataKind::kDate: break;
    case DataKind::kBool:
    case DataKind::kEnum:
      for (const EnumItem& item : data_type.items) {
        specs[item.key_text] = item.label;
      }
      break;
    case DataKind::kStruct: specs = ExportParams(data_type.members); break;
    case DataKind::kArray:
      PutIfSet(specs, "size", data_type.size);
      if (data_type.item) {
        specs["item"] = ExportDataType(*data_type.item);
      }
      break;
  }
  out["specs"] = std::move(specs);
  return out;
}

json ExportModule(const Module& module) {
  json doc;
  doc["schema"] = module.schema.empty() ? kDefaultSchema : module.schema;
  doc["profile"] = json{{"productKey", module.product_key}};
  if (!module.profile_version.empty()) {
    doc["profile"]["version"] = module.profile_version;
  }
  if (!module.function_block_id.empty()) {
    doc["functionBlockId"] = module.function_block_id;
    doc["functionBlockName"] = module.function_block_name;
  }

  json properties = json::array();
  json all_params = json::array();
  json writable_params = json::array();
  json identifiers = json::array();
  for (const Property& property : module.properties) {
    json out{{"identifier", property.identifier},
             {"name", property.name},
             {"accessMode", std::string(AccessModeName(property.access_mode))},
             {"required", property.required},
             {"dataType", ExportDataType(property.data_type)}};
    PutDesc(out, property.desc);
    properties.push_back(std::move(out));
    all_params.push_back(PropertyAsParam(property));
    if (property.access_mode != AccessMode::kRead) {
      writable_params.push_back(PropertyAsParam(property));
    }
    identifiers.push_back(property.identifier);
  }
  doc["properties"] = std::move(properties);

  json events = json::array();
  json post{{"identifier", "post"},
            {"name", module.post_name},
            {"type", "info"},
            {"required", true},
            {"method", "thing.event.property.post"},
            {"outputData", all_params}};
  PutDesc(post, module.post_desc);
  events.push_back(std::move(post));
  for (const Event& event : module.events) {
    json out{{"identifier", event.identifier},
             {"name", event.name},
             {"type", std::string(EventTypeName(event.type))},
             {"required", event.required},
             {"method", "thing.event." + event.identifier + ".post"},
             {"outputData", ExportParams(event.outputs.params)}};
    PutDesc(out, event.desc);
    events.push_back(std::move(out));
  }
  doc["events"] = std::move(events);

  json services = json::array();
  json set{{"identifier", "set"},
           {"name", module.set_name},
           {"required", true},
           {"callType", "async"},
           {"method", "thing.service.property.set"},
           {"inputData", std::move(writable_params)},
           {"outputData", json::array()}};
  PutDesc(set, module.set_desc);
  services.push_back(std::move(set));
  json get{{"identifier", "get"},
           {"name", module.get_name},
           {"required", true},
           {"callType", "async"},
           {"method", "thing.service.property.get"},
           {"inputData", std::move(identifiers)},
           {"outputData", std::move(all_params)}};
  PutDesc(get, module.get_desc);
  services.push_back(std::move(get));
  for (const Service& service : module.services) {
    json out{{"identifier", service.identifier},
             {"name", service.name},
             {"required", service.required},
             {"callType", std::string(CallTypeName(service.call_type))},
             {"method", "thing.service." + service.identifier},
             {"inputData", ExportParams(service.inputs.params)},
             {"outputData", ExportParams(service.outputs.params)}};
    PutDesc(out, service.desc);
    services.push_back(std::move(out));
  }
  doc["services"] = std::move(services);
  return doc;
}

std::string ExportModuleText(const Module& module, int indent) {
  return ExportModule(module).dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace iot::tsl

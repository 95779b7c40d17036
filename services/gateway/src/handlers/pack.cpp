#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/common/codes.hpp"

// thing.event.property.pack.post (reference §2.10): one message from a gateway carrying its own
// properties and events and those of up to 20 sub-devices of its topology. Each part is validated
// against its own product's model and mode; as on Alibaba the post is all or nothing: any failing
// part fails it, the reply's data names each failure per device, and nothing of it is stored.
namespace iot::gateway::handler_detail {
namespace {

constexpr std::size_t kMaxPackSubDevices = 20;

struct PackPart {
  std::string product_key;
  std::string device_name;
  std::int64_t device_id = 0;  // 0: the gateway itself (the message's own telemetry)
  std::string iot_id;
  std::shared_ptr<const ProductEntry> product;
  tsl::Report properties;
  std::vector<tsl::Report> events;
};

// Validates one part's "properties" and "events"; adds its failures to `failures` (false then).
bool ValidatePart(Context& c, const ProductEntry& product, const json& body, PackPart& part, json& failures) {
  json items = json::object();
  int code = codes::kSuccess;
  std::string message;
  auto fail = [&](int item_code, const std::string& identifier, const std::string& text) {
    if (code == codes::kSuccess) {
      code = item_code;
      message = identifier.empty() ? text : identifier + ": " + text;
    }
    if (!identifier.empty() && !items.contains(identifier)) {
      items[identifier] = json{{"code", item_code}, {"message", text}};
    }
  };
  const tsl::Validator validator = MakeValidator(product);
  if (const auto props = body.find("properties"); props != body.end()) {
    if (!props->is_object()) {
      fail(codes::kParamError, "", "properties must be an object");
    } else if (props->size() > tsl::kMaxItemsPerPost) {
      fail(codes::kTooManyProperties, "", "more than 200 properties");
    } else {
      part.properties = validator.PropertyPost(*props, c.now());
      if (!part.properties.request_ok()) {
        fail(part.properties.code, "", part.properties.message);
      }
      for (const auto& r : part.properties.refused) {
        fail(r.code, r.identifier, r.message);
      }
    }
  }
  if (const auto events = body.find("events"); events != body.end()) {
    if (!events->is_object()) {
      fail(codes::kParamError, "", "events must be an object");
    } else if (events->size() > tsl::kMaxItemsPerPost) {
      fail(codes::kPackTooManyEvents, "", "more than 200 events");
    } else {
      for (auto it = events->begin(); it != events->end(); ++it) {
        tsl::Report report = validator.EventPost(it.key(), it.value(), c.now());
        if (!report.request_ok()) {
          fail(report.code, it.key(), report.message);
        }
        for (const auto& r : report.refused) {
          fail(r.code, it.key(), r.message);
        }
        part.events.push_back(std::move(report));
      }
    }
  }
  if (code == codes::kSuccess) {
    return true;
  }
  json failure = {{"productKey", part.product_key},
                  {"deviceName", part.device_name},
                  {"code", code},
                  {"message", message}};
  if (!items.empty()) {
    failure["items"] = std::move(items);
  }
  failures.push_back(std::move(failure));
  return false;
}

void PartFailed(const std::string& pk, const std::string& dn, int code, const std::string& message,
                json& failures) {
  failures.push_back({{"productKey", pk}, {"deviceName", dn}, {"code", code}, {"message", message}});
}

}  // namespace

HandleStatus HandlePackPost(Context& c, const ProductEntry& gateway_product, const json& params,
                            Directory& directory) {
  if (!params.is_object()) {
    c.Fail(codes::kParamError, "params must be an object");
    return HandleStatus::kWork;
  }
  const auto subs = params.find("subDevices");
  if (subs != params.end() && !subs->is_array()) {
    c.Fail(codes::kParamError, "subDevices must be an array");
    return HandleStatus::kWork;
  }
  if (subs != params.end() && subs->size() > kMaxPackSubDevices) {
    c.Fail(codes::kPackTooManySubDevices, "more than 20 sub-devices in one pack post");
    return HandleStatus::kWork;
  }
  json failures = json::array();
  std::vector<PackPart> parts;
  parts.reserve(1 + (subs == params.end() ? 0 : subs->size()));
  PackPart& own = parts.emplace_back();
  own.product_key = c.topic().product_key;
  own.device_name = c.topic().device_name;
  bool ok = ValidatePart(c, gateway_product, params, own, failures);
  if (subs != params.end()) {
    for (const json& sub : *subs) {
      const json* identity = sub.is_object() && sub.contains("identity") ? &sub["identity"] : nullptr;
      const json* pk = identity && identity->is_object() && identity->contains("productKey")
                           ? &(*identity)["productKey"]
                           : nullptr;
      const json* dn = identity && identity->is_object() && identity->contains("deviceName")
                           ? &(*identity)["deviceName"]
                           : nullptr;
      if (pk == nullptr || dn == nullptr || !pk->is_string() || !dn->is_string()) {
        PartFailed("", "", codes::kParamError, "subDevices: each needs identity {productKey, deviceName}",
                   failures);
        ok = false;
        continue;
      }
      PackPart part;
      part.product_key = pk->get<std::string>();
      part.device_name = dn->get<std::string>();
      auto device = directory.FindDevice(part.product_key, part.device_name);
      if (!device) {
        if (Unavailable(device.error())) {
          return LookupFailed(c, device.error(), codes::kDeviceNotFound, "device not found");  // retried
        }
        PartFailed(part.product_key, part.device_name, codes::kDeviceNotFound, "device not found", failures);
        ok = false;
        continue;
      }
      if (device->gateway_product_key != own.product_key || device->gateway_device_name != own.device_name) {
        PartFailed(part.product_key, part.device_name, codes::kTopoNotExist, "topological relation not exist",
                   failures);
        ok = false;
        continue;
      }
      if (!device->enabled) {
        PartFailed(part.product_key, part.device_name, codes::kDeviceDisabled, "device disabled", failures);
        ok = false;
        continue;
      }
      auto product = directory.FindProduct(part.product_key);
      if (!product) {
        if (Unavailable(product.error())) {
          return LookupFailed(c, product.error(), codes::kProductNotFound, "product not found");
        }
        PartFailed(part.product_key, part.device_name, codes::kProductNotFound, "product not found",
                   failures);
        ok = false;
        continue;
      }
      part.device_id = device->device_id;
      part.iot_id = device->iot_id;
      part.product = *product;
      ok = ValidatePart(c, **product, sub, part, failures) && ok;
      parts.push_back(std::move(part));
    }
  }
  if (!ok) {
    // Nothing stored but the refusal itself (on the gateway); the first failure is the answer's code.
    const json& first = failures.front();
    std::string message = first.value("message", std::string("pack post refused"));
    const std::string who = first.value("productKey", std::string()) + "/" + first.value("deviceName", "");
    c.Fail(first.value("code", codes::kParamError), who + ": " + message, std::move(failures));
    return HandleStatus::kWork;
  }
  for (auto& part : parts) {
    const ProductEntry& product = part.device_id == 0 ? gateway_product : *part.product;
    store::TelemetryMessage* target =
        part.device_id == 0 ? nullptr
                            : &c.Part(part.device_id, part.iot_id, part.product_key, part.device_name);
    if (part.properties.request_ok() && !part.properties.accepted.empty()) {
      c.AddProperties(part.properties, target);
    }
    for (const auto& report : part.events) {
      c.AddEvents(report, product.model.get(), target);
    }
  }
  c.Telemetry();  // the dedupe key, also for a pack with nothing of the gateway's own
  c.Answer(codes::kSuccess, json::object());
  return HandleStatus::kWork;
}

}  // namespace iot::gateway::handler_detail

// A gateway's topology for operators (Alibaba's GetThingTopo, BatchAddThingTopo, RemoveThingTopo): the
// sub-devices bound to a gateway device, with their online state. The same store calls as the
// gateway's thing.topo.add / delete (libs/store topology.hpp), without the sub-devices' signs: an
// operator is trusted. Changes reach the broker plugin by notification within a second; a removed
// sub-device's session ends.
#include "iot/store/topology.hpp"

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/products.hpp"

namespace iot::api {
namespace {

const BodySchema& AddSchema() {
  static const BodySchema kSchema = [] {
    auto item = std::make_shared<BodySchema>();
    item->Required("productKey", FieldType::kString).Required("deviceName", FieldType::kString);
    BodySchema root;
    root.Required("devices", FieldType::kArray,
                  {.min = 1,
                   .max = static_cast<double>(store::kMaxSubDevices),
                   .items = FieldType::kObject,
                   .item_object = item});
    return root;
  }();
  return kSchema;
}

nlohmann::json SubDeviceJson(const store::SubDevice& sub) {
  return {{"productKey", sub.product_key},
          {"deviceName", sub.device_name},
          {"iotId", sub.iot_id},
          {"status", sub.enabled ? std::string(store::ToString(sub.status)) : std::string("disabled")}};
}

// The gateway device, which must be of a gateway product (409 otherwise).
store::Device Gateway(store::Db& db, const std::string& pk, const std::string& dn) {
  store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
  store::Product product = Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
  if (product.node_type != store::NodeType::kGateway) {
    throw ApiError::Conflict(pk + "/" + dn + " is not a gateway (its product's nodeType is not gateway)");
  }
  return device;
}

// A refused change as the API's problem, naming the device.
[[noreturn]] void Refused(const store::TopologyOutcome& outcome, const std::vector<store::DeviceRef>& refs) {
  const auto& ref = refs.at(outcome.index);
  const std::string who = ref.product_key + "/" + ref.device_name;
  switch (outcome.refusal) {
    case store::TopologyRefusal::kUnknownDevice: throw ApiError::NotFound("no such device: " + who);
    case store::TopologyRefusal::kSelf: throw ApiError::BadRequest("a gateway cannot be its own sub-device");
    case store::TopologyRefusal::kOtherGateway:
      throw ApiError::Conflict(who + " belongs to another gateway: remove it there first");
    case store::TopologyRefusal::kTooMany:
      throw ApiError::Conflict("a gateway holds at most 1500 sub-devices (adding " + who + ")");
    case store::TopologyRefusal::kNotInTopology:
      throw ApiError::NotFound(who + " is not a sub-device of this gateway");
    case store::TopologyRefusal::kNone: break;
  }
  throw ApiError::Internal("topology change refused");
}

void GetTopology(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(context.pool, respond, [pk, dn](store::Db& db) {
    store::Device gateway = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& sub : Unwrap(store::ListTopology(db, gateway.id))) {
      items.push_back(SubDeviceJson(sub));
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

void AddTopology(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, AddSchema());
  std::vector<store::DeviceRef> refs;
  std::vector<ErrorItem> problems;
  for (std::size_t i = 0; i < body["devices"].size(); ++i) {
    const auto& item = body["devices"][i];
    store::DeviceRef ref{item["productKey"].get<std::string>(), item["deviceName"].get<std::string>()};
    if (!IsValidProductKey(ref.product_key) || !IsValidDeviceName(ref.device_name)) {
      problems.push_back({"/devices/" + std::to_string(i), 0, "not a valid productKey and deviceName"});
    }
    refs.push_back(std::move(ref));
  }
  if (!problems.empty()) {
    std::string detail = problems.front().message;
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
  RunOnDb(context.pool, respond,
          [request = std::move(request), pk, dn, refs = std::move(refs)](store::Db& db) {
            store::Device gateway = Gateway(db, pk, dn);
            auto outcome = Unwrap(store::AddTopology(db, gateway.id, refs));
            if (outcome.refusal != store::TopologyRefusal::kNone) {
              Refused(outcome, refs);
            }
            nlohmann::json items = nlohmann::json::array();
            nlohmann::json names = nlohmann::json::array();
            for (const auto& sub : outcome.devices) {
              items.push_back(SubDeviceJson(sub));
              names.push_back(sub.product_key + "/" + sub.device_name);
            }
            Audit(db, request, "device.topology.add", pk + "/" + dn, {{"devices", names}});
            return JsonOk(200, {{"items", std::move(items)}});
          });
}

void RemoveTopology(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  const std::string& sub_pk = request.Param("subPk");
  const std::string& sub_dn = request.Param("subDn");
  if (!IsValidProductKey(sub_pk) || !IsValidDeviceName(sub_dn)) {
    throw ApiError::NotFound("no such sub-device");
  }
  std::vector<store::DeviceRef> refs{store::DeviceRef{sub_pk, sub_dn}};
  RunOnDb(context.pool, respond,
          [request = std::move(request), pk, dn, refs = std::move(refs)](store::Db& db) {
            store::Device gateway = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
            auto outcome = Unwrap(store::RemoveTopology(db, gateway.id, refs));
            if (outcome.refusal != store::TopologyRefusal::kNone) {
              Refused(outcome, refs);
            }
            Audit(db, request, "device.topology.remove", pk + "/" + dn,
                  {{"device", refs.front().product_key + "/" + refs.front().device_name}});
            Response response;
            response.status = 204;
            return response;
          });
}

// thing.list.found: what the gateway reported it discovered, newest first.
void GetFound(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(context.pool, respond, [pk, dn](store::Db& db) {
    store::Device gateway = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& found : Unwrap(store::ListFoundDevices(db, gateway.id))) {
      items.push_back({{"productKey", found.product_key},
                       {"deviceName", found.device_name},
                       {"foundAt", found.found_at}});
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/products/{pk}/devices/{dn}/topology/found", kViewer, GetFound},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/topology", kViewer, GetTopology},
    {"POST", "/api/v1/products/{pk}/devices/{dn}/topology", kOperator, AddTopology},
    {"DELETE", "/api/v1/products/{pk}/devices/{dn}/topology/{subPk}/{subDn}", kOperator, RemoveTopology},
};

}  // namespace

void AddTopologyRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

#include <string>
#include <utility>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/alink/error.hpp"
#include "iot/alink/session.hpp"
#include "iot/common/codes.hpp"

// Gateways (reference §2.17): thing.topo.add / delete / get and thing.sub.register. The handler checks
// the shape of the request; the writer checks signatures and the topology against the database and
// applies the change all or nothing (StoreBackend), and replies::SetTopologyAnswer answers it.
namespace iot::gateway::handler_detail {

void HandleTopology(Context& c, const json& params, Work& out) {
  TopologyOp op;
  op.gateway_id = c.device_id;
  op.gateway_product_key = c.topic().product_key;
  op.gateway_device_name = c.topic().device_name;
  switch (c.topic().kind) {
    case alink::TopicKind::kTopoAdd: {
      op.action = TopologyOp::Action::kAdd;
      if (!params.is_array() || params.empty() || params.size() > store::kMaxSubDevices) {
        return c.Fail(codes::kParamError, "params must be an array of 1 to 1500 sub-devices");
      }
      for (const auto& item : params) {
        auto sign = alink::DecodeSubDeviceSign(item);
        if (!sign) {
          return c.Fail(alink::AlinkCode(sign.error()), "bad sub-device: " + sign.error().message());
        }
        if (!alink::IsValidProductKey(sign->product_key) || !alink::IsValidDeviceName(sign->device_name)) {
          return c.Fail(codes::kParamError, "bad sub-device productKey or deviceName");
        }
        op.signs.push_back(std::move(*sign));
      }
      break;
    }
    case alink::TopicKind::kTopoDelete:
    case alink::TopicKind::kSubRegister: {
      op.action = c.topic().kind == alink::TopicKind::kTopoDelete ? TopologyOp::Action::kDelete
                                                                  : TopologyOp::Action::kRegister;
      auto keys = alink::DecodeDeviceKeys(params, store::kMaxSubDevices);
      if (!keys) {
        return c.Fail(codes::kParamError, "params must be an array of 1 to 1500 {productKey, deviceName}: " +
                                              keys.error().message());
      }
      for (auto& key : *keys) {
        op.devices.push_back(store::DeviceRef{std::move(key.product_key), std::move(key.device_name)});
      }
      break;
    }
    case alink::TopicKind::kListFound: {
      // [{"productKey","deviceName"}]: recorded for operators. A device name outside Alibaba's rules is
      // 6280.
      op.action = TopologyOp::Action::kFound;
      op.now_ms = c.now();
      if (!params.is_array() || params.empty() || params.size() > store::kMaxSubDevices) {
        return c.Fail(codes::kParamError, "params must be an array of 1 to 1500 {productKey, deviceName}");
      }
      for (const auto& item : params) {
        const auto pk = item.is_object() ? item.find("productKey") : item.end();
        const auto dn = item.is_object() ? item.find("deviceName") : item.end();
        if (!item.is_object() || pk == item.end() || dn == item.end() || !pk->is_string() ||
            !dn->is_string() || !alink::IsValidProductKey(pk->get_ref<const std::string&>())) {
          return c.Fail(codes::kParamError, "each item needs a productKey and a deviceName");
        }
        if (!alink::IsValidDeviceName(dn->get_ref<const std::string&>())) {
          return c.Fail(codes::kSubDeviceNameInvalid, "invalid sub-device name: " + dn->get<std::string>());
        }
        op.devices.push_back(store::DeviceRef{pk->get<std::string>(), dn->get<std::string>()});
      }
      break;
    }
    default: op.action = TopologyOp::Action::kGet; break;  // thing.topo.get: params {} (ignored)
  }
  c.Answer(codes::kSuccess, json::array());  // completed by the writer (SetTopologyAnswer)
  out.op = std::move(op);
}

}  // namespace iot::gateway::handler_detail

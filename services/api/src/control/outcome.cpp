#include "control/outcome.hpp"

namespace iot::api {
namespace {

class ControlCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "iot.api.control"; }
  std::string message(int ev) const override {
    switch (static_cast<ControlErrc>(ev)) {
      case ControlErrc::kOk: return "ok";
      case ControlErrc::kInvalidParams: return "params do not match the published model";
      case ControlErrc::kQueueFull: return "the device's command queue is full";
      case ControlErrc::kRawSync: return "synchronous services are not available for raw products";
      case ControlErrc::kShuttingDown: return "shutting down";
      case ControlErrc::kBrokerDown: return "the broker is not reachable";
      case ControlErrc::kDbQueueFull: return "the database queue is full";
      case ControlErrc::kDeviceTimeout: return "the device did not answer in time";
      case ControlErrc::kDeviceOffline: return "the device is offline";
      case ControlErrc::kBroadcastRate: return "too many broadcasts for this product";
      case ControlErrc::kInternal: break;
    }
    return "internal error";
  }
};

}  // namespace

const boost::system::error_category& ControlErrorCategory() {
  static const ControlCategory kCategory;
  return kCategory;
}

}  // namespace iot::api

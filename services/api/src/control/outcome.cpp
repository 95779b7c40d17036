#include "control/outcome.hpp"

#include "iot/common/error_category.hpp"

namespace iot::api {

const boost::system::error_category& ControlErrorCategory() {
  static const TableCategory kCategory(
      "iot.api.control",
      std::array{std::pair{ControlErrc::kOk, "ok"},
                 std::pair{ControlErrc::kInvalidParams, "params do not match the published model"},
                 std::pair{ControlErrc::kQueueFull, "the device's command queue is full"},
                 std::pair{ControlErrc::kRawSync, "synchronous services are not available for raw products"},
                 std::pair{ControlErrc::kShuttingDown, "shutting down"},
                 std::pair{ControlErrc::kBrokerDown, "the broker is not reachable"},
                 std::pair{ControlErrc::kDbQueueFull, "the database queue is full"},
                 std::pair{ControlErrc::kDeviceTimeout, "the device did not answer in time"},
                 std::pair{ControlErrc::kDeviceOffline, "the device is offline"},
                 std::pair{ControlErrc::kBroadcastRate, "too many broadcasts for this product"}},
      "internal error");
  return kCategory;
}

}  // namespace iot::api

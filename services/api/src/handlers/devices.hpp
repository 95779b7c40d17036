#pragma once

#include <nlohmann/json.hpp>

#include "iot/store/devices.hpp"

namespace iot::api {

// The Device of the contract; "disabled" replaces the status of a device that is not enabled.
nlohmann::json DeviceJson(const store::Device& device, bool with_secret);

}  // namespace iot::api

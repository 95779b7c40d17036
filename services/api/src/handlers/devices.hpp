#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "http/request.hpp"
#include "iot/store/devices.hpp"

namespace iot::api {

// The Device of the contract; "disabled" replaces the status of a device that is not enabled.
nlohmann::json DeviceJson(const store::Device& device, bool with_secret);

// Creates `rows` all or nothing (store::ImportDevices) and answers 201 {"items":[Device with secret]};
// existing names or iotIds are a 409 listing each at `pointer_of(row index)`. Audited as `action`.
// (handlers/fleet.cpp)
Response ImportDevicesAnswer(store::Db& db, const Request& request, const std::string& product_key,
                             const std::vector<store::DeviceCreate>& rows,
                             const std::function<std::string(std::size_t)>& pointer_of,
                             const std::string& action);

}  // namespace iot::api

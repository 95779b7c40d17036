#pragma once

#include <cstdint>
#include <string_view>

#include "iot/alink/ota.hpp"
#include "iot/store/ota.hpp"

// A stored firmware as the package handed to a device (the upgrade push of iot-api's job driver, the
// gateway's answer to thing.ota.firmware.get): its size, version, digests (sign = SHA-256), module and
// extData, and a signed, expiring link to iot-api's firmware route (naming the device's task when
// `task_id` > 0, so its downloads are counted on the task).
namespace iot::catalog {

alink::OtaPackage OtaPackageFor(const store::FirmwareInfo& firmware, std::string_view url_key,
                                std::string_view base_url, std::int64_t now_s, std::int64_t task_id = 0);

}  // namespace iot::catalog

#pragma once

// Writes that carry forwarding outbox rows (iot/store/forwarding.hpp) in their own transaction: a device's
// reply completing its service call (kind "reply") and a custom-topic message stored (kind "message").
// The same as UpdateServiceCall and InsertDeviceMessage otherwise; the rows are written only when the
// change itself is (not for a call answered already, nor for a device deleted meanwhile).

#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/device_messages.hpp"
#include "iot/store/forwarding.hpp"

namespace iot::store {

Result<ServiceCall> UpdateServiceCallForwarded(Db& db, std::string_view call_id,
                                               const ServiceCallUpdate& update,
                                               const std::vector<ForwardMessage>& forward);
Result<DeviceMessage> InsertDeviceMessageForwarded(Db& db, const DeviceMessageCreate& create,
                                                   const std::vector<ForwardMessage>& forward);

}  // namespace iot::store

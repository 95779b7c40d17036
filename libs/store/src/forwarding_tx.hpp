#pragma once

// Private to libs/store: writes outbox rows inside a transaction another repository owns (the telemetry
// writer's batch, a lifecycle batch), so they commit or roll back with the data they describe.

#include <cstdint>
#include <vector>

#include <pqxx/pqxx>

#include "iot/store/forwarding.hpp"

namespace iot::store {

// One row per message, in order, with the device's product key, name and iotId (a device deleted
// meanwhile gets none). `device_ids[i]` is the device of `messages[i]`.
void WriteOutbox(pqxx::transaction_base& tx, const std::vector<std::int64_t>& device_ids,
                 const std::vector<const ForwardMessage*>& messages);

}  // namespace iot::store

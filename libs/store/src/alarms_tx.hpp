#pragma once

// Private to libs/store: applies what evaluating a product's alarm rules said, inside the telemetry
// writer's batch transaction (so an alarm commits or rolls back with the post it reacts to).

#include <cstdint>
#include <vector>

#include <pqxx/pqxx>

#include "iot/store/alarms.hpp"

namespace iot::store {

// In order, for one device: raise (or count a repeat), start or forget a "for N s" condition, clear.
void ApplyAlarmSignals(pqxx::transaction_base& tx, std::int64_t device_id,
                       const std::vector<AlarmSignal>& signals);

}  // namespace iot::store

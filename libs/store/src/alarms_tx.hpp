#pragma once

// Private to libs/store: applies what evaluating a product's alarm rules said, inside the telemetry
// writer's batch transaction (so an alarm commits or rolls back with the post it reacts to).

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "iot/store/alarms.hpp"

namespace iot::store {

// The open alarms and pending "for N s" conditions of a batch's devices, as (rule id, device id), read
// once per batch after the devices' latest-values rows are locked (the writers of other gateways and the
// sweep take the same locks first), then kept up to date by ApplyAlarmSignals. It spares the statements
// that would change nothing: a post that does not hold a condition costs nothing when nothing is open.
struct AlarmKnown {
  std::set<std::pair<std::int64_t, std::int64_t>> open;
  std::set<std::pair<std::int64_t, std::int64_t>> pending;
};
// `device_ids`: a PostgreSQL array literal of the devices (TextArray).
AlarmKnown ReadAlarmState(pqxx::transaction_base& tx, const std::string& device_ids);

// In order, for one device: raise (or count a repeat), start or forget a "for N s" condition, clear.
// Consecutive repeats of an open alarm are counted with one statement.
void ApplyAlarmSignals(pqxx::transaction_base& tx, std::int64_t device_id,
                       const std::vector<AlarmSignal>& signals, AlarmKnown& known);

}  // namespace iot::store

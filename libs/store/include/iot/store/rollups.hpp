#pragma once

// Hourly rollups of numeric property values (schemas/sql/023_rollups.sql explains the design). The
// aggregate read (AggregateProperty, device_data.hpp) uses them for every whole hour they cover; RollUp
// keeps them current and is run on a timer by iot-api.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

struct RollupSettings {
  TimeMs grace_ms = 2 * 60 * 1000;  // an hour is closed this long after its end
  int hours_per_step = 24;          // hours rolled from raw rows per transaction
  int late_per_step = 10000;        // late rows merged per transaction
  int retention_days = 400;         // months wholly older than this are dropped
};

struct RollupReport {
  bool busy = false;                 // another process is rolling up: nothing done
  int hours_rolled = 0;              // hours rolled from raw rows
  std::int64_t late_merged = 0;      // late rows merged into rolled hours
  std::vector<std::string> created;  // monthly partitions created
  std::vector<std::string> dropped;  // monthly partitions dropped by retention
  bool more = false;                 // work is left that another call would do at once
  bool waiting = false;              // closed hours wait for older transactions (of any database of
                                     // the cluster: transaction ids are the cluster's) to end
};

// One round: moves the closed horizon, rolls up to hours_per_step closed hours, merges up to
// late_per_step late rows and applies retention, each step in its own short transaction. Safe to run
// from several processes (an advisory lock lets one through; the others get busy = true). Call again
// at once while `more` is set.
Result<RollupReport> RollUp(Db& db, TimeMs now, const RollupSettings& settings = {});

struct RollupStatus {
  std::optional<TimeMs> rolled_until;  // none before the first roll
  std::optional<TimeMs> closed_until;
  std::int64_t late_waiting = 0;
};
Result<RollupStatus> GetRollupStatus(Db& db);

}  // namespace iot::store

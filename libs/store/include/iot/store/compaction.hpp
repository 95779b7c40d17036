#pragma once

// Compaction of closed days of property history into compressed blocks (issue 24, step 4;
// schemas/sql/025_property_blocks.sql explains the design, libs/series the block format). iot-api runs
// CompactHistory on a timer; reads (device_data.hpp) merge blocks and rows and answer the same either way.

#include <cstdint>
#include <string>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

struct CompactionSettings {
  TimeMs after_ms = 60 * 60 * 1000;  // a day is compacted once its end is this far past (and rolled up)
  int devices_per_step = 100;        // devices whose day moves into blocks per transaction
  int rows_per_block = 2048;         // rows of one device and day per block, at most
};

struct CompactionReport {
  bool busy = false;                 // another process is compacting: nothing done
  std::int64_t rows = 0;             // property_posts rows moved into blocks
  std::int64_t values = 0;           // values in them
  std::int64_t blocks = 0;           // blocks written (rewritten ones included)
  std::int64_t block_bytes = 0;      // their size
  std::vector<std::string> emptied;  // day partitions of property_posts vacuumed and reindexed once empty
  bool more = false;                 // work is left that another call would do at once
};

// One day a call, the oldest of the days of property_posts whose end is before min(now - after_ms, the
// rollups' rolled_until) that still hold rows: every device's rows of such a day (but those waiting in
// rollup_pending) leave property_posts for blocks, merged with the blocks the device has of that day already,
// one transaction per devices_per_step devices; a day partition left without rows is vacuumed and reindexed
// so its space goes back to the system. Safe to run from several processes (an advisory lock lets one
// through; the others get busy = true).
Result<CompactionReport> CompactHistory(Db& db, TimeMs now, const CompactionSettings& settings = {});

}  // namespace iot::store

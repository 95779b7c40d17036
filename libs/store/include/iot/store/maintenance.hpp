#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// Periodic housekeeping; the services call these on a timer (e.g. EnsurePartitions at start and hourly,
// ApplyRetention hourly, CleanDedupe every minute). Safe to run from several processes at once: each
// takes an advisory lock and returns quietly when another holds it.
//
// Partitioned tables (by device time; service calls by requested_at): property_posts, property_blocks
// (compacted history, compaction.hpp), events, rejections, service_calls. Daily partitions named
// <table>_pYYYYMMDD plus <table>_default.
//
// Retention: partitions are shared by all products, so
//   * a daily partition is dropped (DETACH ... CONCURRENTLY, then DROP, with a short lock_timeout and a
//     retry on the next run) once its whole day is older than the LONGEST retention of any product;
//   * rows of products with a shorter retention are deleted in small batches (short transactions)
//     from the partitions still kept;
//   * the DEFAULT partition (stray timestamps) is cleaned by the same batched delete.

struct PartitionReport {
  std::vector<std::string> created;     // partition names created now
  std::int64_t moved_from_default = 0;  // rows moved out of a default partition
};

struct RetentionReport {
  std::vector<std::string> dropped;  // partitions dropped
  std::int64_t deleted_rows = 0;     // rows removed by batched deletes
  bool busy = false;                 // a lock was not obtained; try again next run
};

inline constexpr int kPartitionDaysBehind = 1;  // yesterday
inline constexpr int kPartitionDaysAhead = 7;
inline constexpr int kRetentionDeleteBatch = 5000;

// Creates the daily partitions from `now` - 1 day to `now` + 7 days (UTC) for every partitioned table.
// When the default partition holds rows of a new day, they are moved into the new partition in the same
// transaction (detach default, create, move, re-attach).
Result<PartitionReport> EnsurePartitions(Db& db, TimeMs now);
// Same for an explicit range of days: from now - days_behind to now + days_ahead (UTC days).
Result<PartitionReport> EnsurePartitionsRange(Db& db, TimeMs now, int days_behind, int days_ahead);
Result<RetentionReport> ApplyRetention(Db& db, TimeMs now);
// Deletes dedupe keys older than now - kDedupeWindowMs; returns how many.
Result<std::int64_t> CleanDedupe(Db& db, TimeMs now);

}  // namespace iot::store

#include "iot/store/rollups.hpp"

#include <algorithm>

#include "connection.hpp"

namespace iot::store {
namespace {

constexpr std::int64_t kRollupLockKey = 0x696f745f726f6c6c;  // "iot_roll"

const Statement kTryLock{"rollup_try_lock", "SELECT pg_try_advisory_xact_lock($1)"};
// The horizons in ms; -infinity (nothing closed or rolled yet) reads as NULL.
#define IOT_ROLLUP_HORIZONS                                                        \
  "CASE WHEN rolled_until = '-infinity' THEN NULL ELSE iot_ms(rolled_until) END, " \
  "CASE WHEN closed_until = '-infinity' THEN NULL ELSE iot_ms(closed_until) END, "
const Statement kState{
    "rollup_state", "SELECT " IOT_ROLLUP_HORIZONS
                    "barrier IS NOT NULL, "
                    "coalesce(pg_snapshot_xmin(pg_current_snapshot()) >= barrier, false) FROM rollup_state"};
const Statement kAdvance{"rollup_advance",
                         "UPDATE rollup_state SET closed_until = iot_ts($1), barrier = NULL"};
// Taken in a transaction that began after the advance committed: every transaction that may have read
// the old closed_until has an id below this.
const Statement kSetBarrier{"rollup_set_barrier",
                            "UPDATE rollup_state SET barrier = pg_snapshot_xmax(pg_current_snapshot())"};
const Statement kSetRolled{"rollup_set_rolled",
                           "UPDATE rollup_state SET rolled_until = iot_ts($1), "
                           "barrier = CASE WHEN iot_ts($1) >= closed_until THEN NULL ELSE barrier END"};
const Statement kKeepFrom{"rollup_keep_from",
                          "UPDATE rollup_state SET kept_from = iot_ts($1) WHERE kept_from < iot_ts($1)"};
const Statement kOldestHour{
    "rollup_oldest_hour",
    "SELECT iot_ms(date_bin(interval '1 hour', min(ts), timestamptz '1970-01-01 00:00:00+00')) "
    "FROM property_posts WHERE ts < iot_ts($1)"};
const Statement kStatus{
    "rollup_status", "SELECT " IOT_ROLLUP_HORIZONS "(SELECT count(*) FROM rollup_pending) FROM rollup_state"};

// The numeric values of some property_posts rows `p` as (device, identifier, hour) partial aggregates;
// first and last as [device time ms, id, value] arrays, whose min and max order like (ts, id).
#define IOT_ROLLUP_AGGREGATE(FROM_ROWS, CONDITION)                                                     \
  "SELECT device_id, key, hour, count(*) AS n, sum(x) AS s, min(x) AS mn, max(x) AS mx, min(k) AS f, " \
  "max(k) AS l FROM (SELECT p.device_id, e.key, "                                                      \
  "date_bin(interval '1 hour', p.ts, timestamptz '1970-01-01 00:00:00+00') AS hour, "                  \
  "e.value::float8 AS x, ARRAY[iot_ms(p.ts)::float8, p.id::float8, e.value::float8] AS k " FROM_ROWS   \
  " CROSS JOIN LATERAL jsonb_each(p.props) AS e WHERE jsonb_typeof(e.value) = 'number' AND " CONDITION \
  ") v "                                                                                               \
  "GROUP BY device_id, key, hour"
// Replaces a rollup row with the new one.
#define IOT_ROLLUP_REPLACE                                                                               \
  "ON CONFLICT (device_id, identifier, hour) DO UPDATE SET count = excluded.count, sum = excluded.sum, " \
  "min = excluded.min, max = excluded.max, first = excluded.first, first_ts = excluded.first_ts, "       \
  "first_id = excluded.first_id, last = excluded.last, last_ts = excluded.last_ts, "                     \
  "last_id = excluded.last_id"
// Days recomputed from their hourly rows (FROM_HOURS: `h`, the hourly rows to read).
#define IOT_ROLLUP_DAYS(FROM_HOURS)                                                                         \
  "INSERT INTO property_rollups_daily (device_id, identifier, hour, count, sum, min, max, first, "          \
  "first_ts, first_id, last, last_ts, last_id) SELECT device_id, identifier, d, n, s, mn, mx, f[3], "       \
  "iot_ts(f[1]::bigint), f[2]::bigint, l[3], iot_ts(l[1]::bigint), l[2]::bigint FROM (SELECT h.device_id, " \
  "h.identifier, date_bin(interval '1 day', h.hour, timestamptz '1970-01-01 00:00:00+00') AS d, "           \
  "sum(h.count)::bigint AS n, sum(h.sum) AS s, min(h.min) AS mn, max(h.max) AS mx, "                        \
  "min(ARRAY[iot_ms(h.first_ts)::float8, h.first_id::float8, h.first]) AS f, "                              \
  "max(ARRAY[iot_ms(h.last_ts)::float8, h.last_id::float8, h.last]) AS l " FROM_HOURS                       \
  " GROUP BY 1, 2, 3) a " IOT_ROLLUP_REPLACE
#define IOT_ROLLUP_INSERT                                                                                   \
  "INSERT INTO property_rollups AS r (device_id, identifier, hour, count, sum, min, max, first, first_ts, " \
  "first_id, last, last_ts, last_id) SELECT device_id, key, hour, n, s, mn, mx, f[3], "                     \
  "iot_ts(f[1]::bigint), "                                                                                  \
  "f[2]::bigint, l[3], iot_ts(l[1]::bigint), l[2]::bigint FROM a "

// Hours [$1, $2) from raw rows (the BRIN index on ts reads only their blocks). Replaces: no rolled row
// can exist there, but a repeated roll must not count twice.
const Statement kRollHours{
    "rollup_hours",
    "WITH a AS (" IOT_ROLLUP_AGGREGATE(
        "FROM property_posts p",
        "p.ts >= iot_ts($1) AND p.ts < iot_ts($2)") ") " IOT_ROLLUP_INSERT IOT_ROLLUP_REPLACE};
// The days of [$1, $2) (whole days) from their hourly rows, after a roll of hours in them.
const Statement kRollDays{"rollup_days", IOT_ROLLUP_DAYS("FROM property_rollups h WHERE h.hour >= iot_ts($1) "
                                                         "AND h.hour < iot_ts($2)")};
// The days a late merge touched ($1: a JSON array of [device id, identifier, day ms]).
const Statement kMergeDays{
    "rollup_merge_days",
    IOT_ROLLUP_DAYS(
        "FROM jsonb_array_elements($1::jsonb) AS k JOIN property_rollups h "
        "ON h.device_id = (k ->> 0)::bigint AND h.identifier = k ->> 1 "
        "AND h.hour >= iot_ts((k ->> 2)::bigint) AND h.hour < iot_ts((k ->> 2)::bigint + 86400000)")};
// Late rows of the hours just rolled from raw rows are in the rollup already (those this snapshot saw).
const Statement kDropLateIn{"rollup_drop_late_in",
                            "DELETE FROM rollup_pending WHERE ts >= iot_ts($1) AND ts < iot_ts($2)"};
// Up to $1 late rows of rolled hours, merged into their hours; rows older than $2 (past the rollups'
// retention) are dropped unmerged. Returns how many were taken and the days touched (for kMergeDays).
const Statement kMergeLate{
    "rollup_merge_late",
    "WITH taken AS (DELETE FROM rollup_pending WHERE ctid = ANY (ARRAY("
    "  SELECT ctid FROM rollup_pending WHERE ts < (SELECT rolled_until FROM rollup_state) LIMIT $1)) "
    "  RETURNING device_id, ts, id), "
    "a AS (" IOT_ROLLUP_AGGREGATE(
        "FROM taken t JOIN property_posts p ON p.device_id = t.device_id AND p.ts = t.ts AND p.id = t.id",
        "t.ts >= iot_ts($2)") "), "
    "merged AS (" IOT_ROLLUP_INSERT
    "ON CONFLICT (device_id, identifier, hour) DO UPDATE SET count = r.count + excluded.count, "
    "sum = r.sum + excluded.sum, min = least(r.min, excluded.min), max = greatest(r.max, excluded.max), "
    "first = CASE WHEN (excluded.first_ts, excluded.first_id) < (r.first_ts, r.first_id) "
    "  THEN excluded.first ELSE r.first END, "
    "first_id = CASE WHEN (excluded.first_ts, excluded.first_id) < (r.first_ts, r.first_id) "
    "  THEN excluded.first_id ELSE r.first_id END, "
    "first_ts = least(r.first_ts, excluded.first_ts), "
    "last = CASE WHEN (excluded.last_ts, excluded.last_id) > (r.last_ts, r.last_id) "
    "  THEN excluded.last ELSE r.last END, "
    "last_id = CASE WHEN (excluded.last_ts, excluded.last_id) > (r.last_ts, r.last_id) "
    "  THEN excluded.last_id ELSE r.last_id END, "
    "last_ts = greatest(r.last_ts, excluded.last_ts) RETURNING device_id, identifier, hour) "
    "SELECT (SELECT count(*) FROM taken), (SELECT coalesce(jsonb_agg(DISTINCT jsonb_build_array(device_id, "
    "identifier, iot_ms(date_bin(interval '1 day', hour, timestamptz '1970-01-01 00:00:00+00')))), '[]') "
    "FROM merged)::text"};

// Monthly partitions (name suffix, first day, first day of the next month) missing for [$1, $2).
const Statement kMissingMonths{
    "rollup_missing_months",
    "SELECT to_char(m, 'YYYYMM'), to_char(m, 'YYYY-MM-DD'), to_char(m + interval '1 month', 'YYYY-MM-DD') "
    "FROM generate_series(date_trunc('month', iot_ts($1) AT TIME ZONE 'UTC'), "
    "date_trunc('month', iot_ts($2::bigint - 1) AT TIME ZONE 'UTC'), interval '1 month') AS g(m) "
    "WHERE to_regclass('property_rollups_p' || to_char(m, 'YYYYMM')) IS NULL"};
// The same for the months of the late rows the next merge may take (not older than $1).
const Statement kMissingLateMonths{
    "rollup_missing_late_months",
    "SELECT DISTINCT to_char(m, 'YYYYMM'), to_char(m, 'YYYY-MM-DD'), "
    "to_char(m + interval '1 month', 'YYYY-MM-DD') FROM ("
    "  SELECT date_trunc('month', q.ts AT TIME ZONE 'UTC') AS m FROM rollup_pending q, rollup_state s"
    "  WHERE q.ts < s.rolled_until AND q.ts >= iot_ts($1)) x "
    "WHERE to_regclass('property_rollups_p' || to_char(m, 'YYYYMM')) IS NULL"};
// Monthly partitions whose whole month is older than $1.
const Statement kExpiredMonths{
    "rollup_expired_months",
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = 'property_rollups'::regclass AND c.relname ~ '^property_rollups_p[0-9]{6}$' "
    "AND to_date(substr(c.relname, 19), 'YYYYMM') + interval '1 month' <= iot_ts($1) AT TIME ZONE 'UTC' "
    "ORDER BY c.relname"};

void CreateMonths(pqxx::work& tx, const pqxx::result& missing, RollupReport& report) {
  for (const auto& row : missing) {
    // Names and bounds come from to_char of timestamps: digits and dashes only.
    const std::string bounds = " FOR VALUES FROM (" + tx.quote(row[1].as<std::string>() + " 00:00:00+00") +
                               ") TO (" + tx.quote(row[2].as<std::string>() + " 00:00:00+00") + ")";
    for (const char* table : {"property_rollups", "property_rollups_daily"}) {
      const std::string name = std::string(table) + "_p" + row[0].as<std::string>();
      tx.exec("CREATE TABLE " + tx.quote_name(name) + " PARTITION OF " + table + bounds);
      report.created.push_back(name);
    }
  }
}

bool Locked(pqxx::work& tx) { return Exec(tx, kTryLock, kRollupLockKey)[0][0].as<bool>(); }

// Moves the horizon, sets the barrier or rolls a chunk of closed hours: one of them per call.
bool StepHorizon(pqxx::connection& c, TimeMs now, TimeMs keep_from, const RollupSettings& s,
                 RollupReport& report) {
  pqxx::work tx(c);
  if (!Locked(tx)) {
    report.busy = true;
    return false;
  }
  const auto st = Exec(tx, kState)[0];
  const std::optional<TimeMs> rolled = Opt<TimeMs>(st[0]);
  const std::optional<TimeMs> closed = Opt<TimeMs>(st[1]);
  const bool barrier_set = st[2].as<bool>();
  const bool barrier_passed = st[3].as<bool>();
  const TimeMs target = FloorHour(now - s.grace_ms);
  Exec(tx, kKeepFrom, keep_from);
  if (closed && (!rolled || *rolled < *closed)) {
    if (!barrier_set) {
      Exec(tx, kSetBarrier);
      report.more = true;
    } else if (barrier_passed) {
      TimeMs lo = *closed;
      if (rolled) {
        lo = *rolled;
      } else if (auto oldest = Exec(tx, kOldestHour, *closed); !oldest[0][0].is_null()) {
        lo = oldest[0][0].as<TimeMs>();
      }
      lo = std::min(std::max(lo, keep_from), *closed);  // past retention (kept_from): never rolled
      const TimeMs hi = std::min(*closed, lo + static_cast<TimeMs>(s.hours_per_step) * kHourMs);
      if (lo < hi) {
        CreateMonths(tx, Exec(tx, kMissingMonths, lo, hi), report);
        Exec(tx, kRollHours, lo, hi);
        Exec(tx, kRollDays, FloorTo(lo, kUtcDayMs), CeilTo(hi, kUtcDayMs));
        Exec(tx, kDropLateIn, lo, hi);
        report.hours_rolled = static_cast<int>((hi - lo) / kHourMs);
      }
      Exec(tx, kSetRolled, hi);
      report.more = hi < *closed;
    } else {
      report.waiting = true;
    }
  } else if (!closed || target > *closed) {
    Exec(tx, kAdvance, target);
    report.more = true;
  }
  tx.commit();
  return true;
}

}  // namespace

Result<RollupReport> RollUp(Db& db, TimeMs now, const RollupSettings& s) {
  if (s.hours_per_step < 1 || s.late_per_step < 1 || s.retention_days < 1 || s.grace_ms < 0) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<RollupReport> {
    RollupReport report;
    const TimeMs keep_from = FloorHour(now - static_cast<TimeMs>(s.retention_days) * kUtcDayMs);
    if (!StepHorizon(c, now, keep_from, s, report)) {
      return report;
    }
    {
      pqxx::work tx(c);
      if (!Locked(tx)) {
        report.busy = true;
        return report;
      }
      CreateMonths(tx, Exec(tx, kMissingLateMonths, keep_from), report);
      const auto merged = Exec(tx, kMergeLate, s.late_per_step, keep_from)[0];
      report.late_merged = merged[0].as<std::int64_t>();
      if (report.late_merged > 0) {
        Exec(tx, kMergeDays, merged[1].as<std::string>());
      }
      report.more = report.more || report.late_merged >= s.late_per_step;
      tx.commit();
    }
    std::vector<std::string> expired;
    {
      pqxx::read_transaction tx(c);
      for (const auto& row : Exec(tx, kExpiredMonths, keep_from)) {
        expired.push_back(row[0].as<std::string>());
      }
    }
    for (const auto& name : expired) {
      // Dropping waits for readers of the parent: a short lock timeout, and the next round tries again.
      try {
        pqxx::work tx(c);
        if (!Locked(tx)) {
          report.busy = true;
          break;
        }
        tx.exec("SET LOCAL lock_timeout = '100ms'");
        tx.exec("DROP TABLE " + tx.quote_name(name));
        tx.exec("DROP TABLE IF EXISTS " + tx.quote_name("property_rollups_daily_p" + name.substr(18)));
        tx.commit();
        report.dropped.push_back(name);
      } catch (const pqxx::sql_error&) {
        break;
      }
    }
    return report;
  });
}

Result<RollupStatus> GetRollupStatus(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<RollupStatus> {
    pqxx::read_transaction tx(c);
    const auto row = Exec(tx, kStatus)[0];
    return RollupStatus{Opt<TimeMs>(row[0]), Opt<TimeMs>(row[1]), row[2].as<std::int64_t>()};
  });
}

}  // namespace iot::store

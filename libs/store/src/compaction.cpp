#include "iot/store/compaction.hpp"

#include <algorithm>
#include <map>
#include <utility>

#include "connection.hpp"
#include "iot/series/block.hpp"
#include "partitions.hpp"
#include "text_array.hpp"

namespace iot::store {
namespace {

constexpr std::int64_t kCompactionLockKey = 0x696f745f636f6d70;  // "iot_comp"
constexpr std::int64_t kReindexBytes = 64 * 1024;                // an empty partition's indexes are less

const Statement kRolledUntil{
    "compact_rolled_until",
    "SELECT CASE WHEN rolled_until = '-infinity' THEN NULL ELSE iot_ms(rolled_until) END FROM rollup_state"};
// A device's blocks of one day, taken out to be merged with its rows of that day and written again.
const Statement kTakeBlocks{"compact_take_blocks",
                            "DELETE FROM property_blocks WHERE device_id = ANY ($1::bigint[]) "
                            "AND ts >= iot_ts($2) AND ts < iot_ts($3) RETURNING device_id, data"};
// Statements over one day's bounds run planned for them (ExecPlanned): the plan then holds only that day's
// partition, where a generic plan would open and lock every partition of the table.
// The devices with rows in one day, in id order, a step at a time ($2, $3: the day's bounds).
const Statement kDevicesOfDay{"compact_devices_of_day",
                              "SELECT DISTINCT device_id FROM property_posts WHERE device_id > $1 "
                              "AND ts >= iot_ts($2) AND ts < iot_ts($3) ORDER BY 1 LIMIT $4"};
// Their rows of that day leave property_posts, a row per value (jsonb's text of it) in (ts, id) order; rows
// waiting in rollup_pending stay until the rollups have merged them; a row without values keeps its place
// (one NULL identifier).
const Statement kTakeRows{
    "compact_take_rows",
    "WITH d AS (DELETE FROM property_posts p WHERE p.device_id = ANY ($1::bigint[]) "
    "AND p.ts >= iot_ts($2) AND p.ts < iot_ts($3) AND NOT EXISTS (SELECT 1 FROM rollup_pending q "
    "WHERE q.device_id = p.device_id AND q.ts = p.ts AND q.id = p.id) "
    "RETURNING p.device_id, p.id, p.ts, p.received_at, p.props) "
    "SELECT d.device_id, d.id, iot_ms(d.ts), iot_ms(d.received_at), v.key, v.value::text "
    "FROM d LEFT JOIN LATERAL jsonb_each(d.props) AS v(key, value) ON true ORDER BY 1, 3, 2"};
const Statement kDayHasRows{"compact_day_has_rows",
                            "SELECT EXISTS (SELECT 1 FROM property_posts WHERE ts >= iot_ts($1) "
                            "AND ts < iot_ts($2))"};
const Statement kPutBlock{"compact_put_block",
                          "INSERT INTO property_blocks (device_id, ts, id, ts_last, rows, identifiers, data) "
                          "VALUES ($1, iot_ts($2), $3, iot_ts($4), $5, $6::text[], $7)"};

bool Earlier(const series::Row& a, const series::Row& b) {
  return a.ts_ms != b.ts_ms ? a.ts_ms < b.ts_ms : a.id < b.id;
}

void PutBlocks(pqxx::work& tx, std::int64_t device, std::vector<series::Row>& rows, int per_block,
               CompactionReport& report) {
  std::stable_sort(rows.begin(), rows.end(), Earlier);
  for (std::size_t at = 0; at < rows.size(); at += static_cast<std::size_t>(per_block)) {
    const std::size_t end = std::min(rows.size(), at + static_cast<std::size_t>(per_block));
    const std::vector<series::Row> part(rows.begin() + static_cast<std::ptrdiff_t>(at),
                                        rows.begin() + static_cast<std::ptrdiff_t>(end));
    std::vector<std::string_view> keys;
    for (const auto& row : part) {
      for (const auto& value : row.values) {
        if (std::find(keys.begin(), keys.end(), value.first) == keys.end()) {
          keys.push_back(value.first);
        }
      }
    }
    TextArray identifiers;
    for (const auto key : keys) {
      identifiers.Add(key);
    }
    const std::string data = series::EncodeBlock(part);
    Exec(tx, kPutBlock, device, part.front().ts_ms, part.front().id, part.back().ts_ms,
         static_cast<int>(part.size()), identifiers.Take(), pqxx::binarystring(data));
    report.blocks += 1;
    report.block_bytes += static_cast<std::int64_t>(data.size());
  }
}

// Moves the rows of up to settings.devices_per_step devices (ids above `after`) of one day into blocks, in
// one transaction; returns the last device id looked at, or nothing when none is left. Rows are reached
// through property_posts with the day's bounds (pruned to its partition; privileges are the parent's).
std::optional<std::int64_t> CompactStep(pqxx::connection& c, std::int64_t day, std::int64_t after,
                                        const CompactionSettings& settings, CompactionReport& report) {
  pqxx::work tx(c);
  const TimeMs from = day * kDayMs;
  const TimeMs to = from + kDayMs;
  const auto devices = ExecPlanned(tx, kDevicesOfDay.sql, after, from, to, settings.devices_per_step);
  if (devices.empty()) {
    return std::nullopt;
  }
  TextArray ids;
  for (const auto& row : devices) {
    ids.Add(row[0].as<std::int64_t>());
  }
  const auto moved = ExecPlanned(tx, kTakeRows.sql, ids.Take(), from, to);
  std::map<std::int64_t, std::vector<series::Row>> rows;
  std::int64_t last_device = 0;
  std::int64_t last_id = 0;
  for (const auto& r : moved) {
    const auto device = r[0].as<std::int64_t>();
    const auto id = r[1].as<std::int64_t>();
    auto& list = rows[device];
    if (list.empty() || device != last_device || id != last_id) {
      list.push_back(series::Row{id, r[2].as<TimeMs>(), r[3].as<TimeMs>(), {}});
      report.rows += 1;
    }
    last_device = device;
    last_id = id;
    if (!r[4].is_null()) {
      list.back().values.emplace_back(r[4].as<std::string>(), r[5].as<std::string>());
      report.values += 1;
    }
  }
  if (!rows.empty()) {
    TextArray with_rows;
    for (const auto& entry : rows) {
      with_rows.Add(entry.first);
    }
    series::Block block;
    std::string error;
    for (const auto& r : ExecPlanned(tx, kTakeBlocks.sql, with_rows.Take(), from, to)) {
      const pqxx::binarystring data(r[1]);
      if (!block.Decode(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), error)) {
        throw std::runtime_error("property_blocks of device " + r[0].as<std::string>() + ": " + error);
      }
      auto more = block.Rows();
      auto& list = rows[r[0].as<std::int64_t>()];
      list.insert(list.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
    for (auto& [device, list] : rows) {
      PutBlocks(tx, device, list, settings.rows_per_block, report);
    }
  }
  tx.commit();
  return devices.back()[0].as<std::int64_t>();
}

// Gives an emptied day partition's space back: VACUUM truncates its heap (when no older snapshot needs
// its rows and it gets the lock; else false, and the next round tries again), REINDEX CONCURRENTLY
// rebuilds its indexes empty. Both wait for nobody
// and keep readers going; neither runs inside a transaction.
bool GiveBack(pqxx::connection& c, std::int64_t day, const std::string& partition) {
  {
    pqxx::read_transaction tx(c);
    if (ExecPlanned(tx, kDayHasRows.sql, day * kDayMs, (day + 1) * kDayMs)[0][0].as<bool>()) {
      return false;
    }
  }
  // VACUUM and REINDEX need the partition's owner (iot-api created it, or the migrator whose role iot-api
  // has); VACUUM only warns otherwise, and the size check below then says it was not done.
  pqxx::nontransaction tx(c);
  const std::string part = tx.quote_name(partition);
  tx.exec("VACUUM " + part);
  const auto sizes =
      tx.exec_params("SELECT pg_relation_size($1::regclass), pg_indexes_size($1::regclass)", partition)[0];
  if (sizes[0].as<std::int64_t>() > 0) {
    return false;  // not truncated (rows of older snapshots, the lock, or not the owner): tried again later
  }
  if (sizes[1].as<std::int64_t>() > kReindexBytes) {
    tx.exec("REINDEX TABLE CONCURRENTLY " + part);
  }
  return true;
}

}  // namespace

Result<CompactionReport> CompactHistory(Db& db, TimeMs now, const CompactionSettings& settings) {
  return Run(db, [&](pqxx::connection& c) -> Result<CompactionReport> {
    CompactionReport report;
    const SessionLock lock(c, kCompactionLockKey);
    if (!lock.held()) {
      report.busy = true;
      return report;
    }

    std::vector<std::pair<std::int64_t, std::string>> days;  // closed day partitions that hold pages
    {
      pqxx::read_transaction tx(c);
      const auto rolled = Exec(tx, kRolledUntil)[0][0];
      if (rolled.is_null()) {
        return report;  // nothing rolled up yet: no day is closed
      }
      const TimeMs horizon = std::min(now - settings.after_ms, rolled.as<TimeMs>());
      for (const auto& part : ListPartitions(tx, "property_posts")) {
        std::int64_t day = 0;
        if (ParseDay("property_posts", part, day) && (day + 1) * kDayMs <= horizon &&
            tx.exec_params("SELECT pg_relation_size($1::regclass) > 0", part)[0][0].as<bool>()) {
          days.emplace_back(day, part);
        }
      }
    }
    // One day a call, oldest first (a pass over a day remembers where it is only within the call); days
    // whose rows all wait in rollup_pending are passed over.
    std::sort(days.begin(), days.end());
    for (std::size_t i = 0; i < days.size(); ++i) {
      const auto& [day, part] = days[i];
      std::int64_t after = 0;  // device ids start at 1
      while (auto last = CompactStep(c, day, after, settings, report)) {
        after = *last;
      }
      if (GiveBack(c, day, part)) {
        report.emptied.push_back(part);
      }
      if (report.rows > 0 || !report.emptied.empty()) {
        report.more = i + 1 < days.size();
        break;
      }
    }
    return report;
  });
}

}  // namespace iot::store

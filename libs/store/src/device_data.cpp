#include "iot/store/device_data.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "audit_tx.hpp"
#include "connection.hpp"
#include "forwarding_tx.hpp"
#include "iot/series/block.hpp"
#include "iot/store/forwarded_writes.hpp"
#include "text_array.hpp"

namespace iot::store {
namespace {

// Latest values: one row per device, {"<identifier>": [<value>, <device time ms>, <received ms>]}.
const Statement kLatest{
    "data_latest",
    "SELECT v.key, (v.value -> 0)::text, (v.value ->> 1)::bigint, (v.value ->> 2)::bigint "
    "FROM device_latest l CROSS JOIN LATERAL jsonb_each(l.props) AS v(key, value) "
    "WHERE l.device_id = $1 ORDER BY v.key"};
// One row per value, or one row of NULLs when the device has none; no row when there is no such device.
const Statement kLatestOf{
    "data_latest_of",
    "SELECT v.key, (v.value -> 0)::text, (v.value ->> 1)::bigint, (v.value ->> 2)::bigint "
    "FROM devices d LEFT JOIN device_latest l ON l.device_id = d.id "
    "LEFT JOIN LATERAL jsonb_each(l.props) AS v(key, value) ON true "
    "WHERE d.product_key = $1 AND d.device_name = $2 ORDER BY v.key"};
// A product's devices in name order with their newest value of one property: one row of NULLs when the
// product has none, no row when there is no such product.
constexpr const char* kLatestOfProperty =
    "SELECT x.device_name, x.value, x.ts FROM products p LEFT JOIN LATERAL ("
    "  SELECT d.device_name, (l.props -> $2::text -> 0)::text AS value, (l.props -> $2::text ->> 1)::bigint "
    "AS ts"
    "  FROM devices d JOIN device_latest l ON l.device_id = d.id"
    "  WHERE d.product_key = p.product_key AND d.device_name > $3 AND l.props ? $2::text"
    "  ORDER BY d.device_name LIMIT $4) x ON true "
    "WHERE p.product_key = $1";
// History (property_posts): one row per post and device time, its values as a jsonb object; a property's
// values are the rows that hold its identifier (a row holds it at most once, so (ts, id) pages it). Run
// planned for their bounds (ExecPlanned; times as timestamptz constants): the plan then holds the partitions
// the window covers, where a generic plan opens and locks every daily partition of the table on each call
// (with a year of them, the page's p50 doubled when the blocks' statement joined it).
constexpr const char* kHistoryAsc =
    "SELECT (props -> $2::text)::text, iot_ms(ts), id FROM property_posts WHERE device_id = $1 AND props ? "
    "$2::text "
    "AND ts >= $3::timestamptz AND ts < $4::timestamptz AND (ts, id) > ($5::timestamptz, $6) ORDER BY ts, id "
    "LIMIT $7";
constexpr const char* kHistoryDesc =
    "SELECT (props -> $2::text)::text, iot_ms(ts), id FROM property_posts WHERE device_id = $1 AND props ? "
    "$2::text "
    "AND ts >= $3::timestamptz AND ts < $4::timestamptz AND (ts, id) < ($5::timestamptz, $6) "
    "ORDER BY ts DESC, id DESC LIMIT $7";
// Compacted history (schemas/sql/025_property_blocks.sql): a device's blocks that may hold values of $2
// in a page's window, a few at a time in (ts, id) order; $3: the window's start for the block's last row,
// [$4, $5): the block's first row (blocks never span a day), then the keyset of the last block read.
constexpr const char* kBlocksAsc =
    "SELECT data, iot_ms(ts), id FROM property_blocks WHERE device_id = $1 AND identifiers @> "
    "ARRAY[$2::text] "
    "AND ts_last >= $3::timestamptz AND ts >= $4::timestamptz AND ts < $5::timestamptz "
    "AND (ts, id) > ($6::timestamptz, $7) ORDER BY ts, id LIMIT $8";
constexpr const char* kBlocksDesc =
    "SELECT data, iot_ms(ts), id FROM property_blocks WHERE device_id = $1 AND identifiers @> "
    "ARRAY[$2::text] "
    "AND ts_last >= $3::timestamptz AND ts >= $4::timestamptz AND ts < $5::timestamptz "
    "AND (ts, id) < ($6::timestamptz, $7) ORDER BY ts DESC, id DESC LIMIT $8";
constexpr int kBlocksPerRead = 4;
constexpr TimeMs kBlockSpanMs = 86400000;  // a block's rows lie within one UTC day

// A time as a timestamptz constant; no value is stored outside years 1..9999, so bounds beyond them read the
// same.
std::string At(TimeMs ms) { return FormatTimestamp(std::clamp(ms, kMinTimeMs, kMaxTimeMs)); }

// Aggregates: numeric values only; first/last by device time (id breaks ties), as [ms, id, value] arrays
// whose min and max order like (ts, id). The whole hours in [lo, hi) that are rolled up
// (schemas/sql/023_rollups.sql) come from property_rollups, plus their late rows not merged yet; the rest
// of [from, to) from raw rows. kAggregateBounds narrows the caller's whole hours [$2, $3) to the rolled
// ones kept by retention and says whether late rows wait there.
const Statement kAggregateBounds{
    "data_aggregate_bounds",
    "SELECT iot_ms(lo), iot_ms(hi), EXISTS (SELECT 1 FROM rollup_pending q WHERE q.device_id = $1 "
    "AND q.ts >= lo AND q.ts < hi) FROM (SELECT lo, greatest(lo, least(iot_ts($3), s.rolled_until)) AS hi "
    "FROM rollup_state s, LATERAL (SELECT greatest(iot_ts($2), least(s.kept_from, iot_ts($3))) AS lo) k) b"};
// The aggregate itself is planned for its bounds ($3 from, $4 to, $6 lo, $7 hi as timestamptz constants):
// the planner then reads only the partitions they cover (a year of daily partitions otherwise costs
// each branch hundreds of opened partitions per request). $5: the bucket width in ms.
#define IOT_AGGREGATE_RAW_VALUES                                                                          \
  "SELECT p.ts AS t, 1::bigint AS n, x AS s, x AS mn, x AS mx, "                                          \
  "ARRAY[iot_ms(p.ts)::float8, p.id::float8, x] AS f, ARRAY[iot_ms(p.ts)::float8, p.id::float8, x] AS l " \
  "FROM (SELECT p.ts, p.id, (p.props -> $2::text)::float8 AS x FROM "
#define IOT_AGGREGATE_RAW_NUMBER " AND p.props ? $2::text AND jsonb_typeof(p.props -> $2::text) = 'number') p"
// Days: $8 and $9 bound the whole days of [$6, $7) read from property_rollups_daily when the buckets
// are whole days ($8 = $9 otherwise); the hours around them from property_rollups.
#define IOT_AGGREGATE_ROLLED(TABLE, FROM, TO)                                  \
  "  SELECT r.hour AS t, r.count AS n, r.sum AS s, r.min AS mn, r.max AS mx, " \
  "  ARRAY[iot_ms(r.first_ts)::float8, r.first_id::float8, r.first] AS f, "    \
  "  ARRAY[iot_ms(r.last_ts)::float8, r.last_id::float8, r.last] AS l "        \
  "  FROM " TABLE                                                              \
  " r WHERE r.device_id = $1 AND r.identifier = $2::text "                     \
  "  AND r.hour >= " FROM "::timestamptz AND r.hour < " TO "::timestamptz UNION ALL "
constexpr const char* kAggregateRollups =
    "WITH parts AS (" IOT_AGGREGATE_ROLLED("property_rollups", "$6", "$8")
        IOT_AGGREGATE_ROLLED("property_rollups_daily", "$8", "$9")
            IOT_AGGREGATE_ROLLED("property_rollups", "$9", "$7") IOT_AGGREGATE_RAW_VALUES
    "  property_posts p WHERE p.device_id = $1 AND p.ts >= $3::timestamptz AND p.ts < "
    "$6::timestamptz" IOT_AGGREGATE_RAW_NUMBER "  UNION ALL " IOT_AGGREGATE_RAW_VALUES
    "  property_posts p WHERE p.device_id = $1 AND p.ts >= $7::timestamptz AND p.ts < "
    "$4::timestamptz" IOT_AGGREGATE_RAW_NUMBER;
constexpr const char* kAggregateLate =
    "  UNION ALL " IOT_AGGREGATE_RAW_VALUES
    "  rollup_pending q, property_posts p WHERE q.device_id = $1 AND q.ts >= $6::timestamptz "
    "  AND q.ts < $7::timestamptz AND p.device_id = q.device_id AND p.ts = q.ts AND p.id = q.id "
    "  AND p.ts >= $6::timestamptz AND p.ts < $7::timestamptz" IOT_AGGREGATE_RAW_NUMBER;
// The numeric values of compacted days in the raw-row ranges, read from their blocks in C++: $10 device
// times (ms), $11 ids, $12 values.
constexpr const char* kAggregateBlocks =
    "  UNION ALL SELECT iot_ts(b.t) AS t, 1::bigint AS n, b.x AS s, b.x AS mn, b.x AS mx, "
    "ARRAY[b.t::float8, b.i::float8, b.x] AS f, ARRAY[b.t::float8, b.i::float8, b.x] AS l "
    "FROM unnest($10::bigint[], $11::bigint[], $12::float8[]) AS b(t, i, x)";
constexpr const char* kAggregateBuckets =
    ") SELECT iot_ms(date_bin($5 * interval '1 millisecond', t, timestamptz '1970-01-01 00:00:00+00')) AS b, "
    "sum(s) / sum(n)::float8, min(mn), max(mx), sum(n)::bigint, (min(f))[3], (max(l))[3] "
    "FROM parts GROUP BY b ORDER BY b";
const Statement kEventsAsc{
    "data_events_asc",
    "SELECT identifier, type, output::text, iot_ms(ts), id FROM events WHERE device_id = $1 "
    "AND ($2::text IS NULL OR identifier = $2) AND ($3::text IS NULL OR type = $3) "
    "AND ts >= iot_ts($4) AND ts < iot_ts($5) AND (ts, id) > (iot_ts($6), $7) "
    "ORDER BY ts, id LIMIT $8"};
const Statement kEventsDesc{
    "data_events_desc",
    "SELECT identifier, type, output::text, iot_ms(ts), id FROM events WHERE device_id = $1 "
    "AND ($2::text IS NULL OR identifier = $2) AND ($3::text IS NULL OR type = $3) "
    "AND ts >= iot_ts($4) AND ts < iot_ts($5) AND (ts, id) < (iot_ts($6), $7) "
    "ORDER BY ts DESC, id DESC LIMIT $8"};
const Statement kRejAsc{
    "data_rej_asc",
    "SELECT iot_ms(ts), method, identifier, value, code, message, id FROM rejections "
    "WHERE device_id = $1 AND ts >= iot_ts($2) AND ts < iot_ts($3) AND (ts, id) > (iot_ts($4), $5) "
    "ORDER BY ts, id LIMIT $6"};
const Statement kRejDesc{
    "data_rej_desc",
    "SELECT iot_ms(ts), method, identifier, value, code, message, id FROM rejections "
    "WHERE device_id = $1 AND ts >= iot_ts($2) AND ts < iot_ts($3) AND (ts, id) < (iot_ts($4), $5) "
    "ORDER BY ts DESC, id DESC LIMIT $6"};

#define IOT_CALL_COLUMNS                                                                           \
  "call_id, device_id, identifier, call_type, params::text, output::text, status, code, message, " \
  "requested_by, iot_ms(requested_at), iot_ms(sent_at), iot_ms(replied_at), iot_ms(expires_at), "  \
  "alink_id, rrpc_id, id"

const Statement kDeviceExists{"data_device_exists", "SELECT 1 FROM devices WHERE id = $1"};
const Statement kCallInsert{
    "call_insert",
    "INSERT INTO service_calls (call_id, device_id, identifier, call_type, params, status, "
    "requested_by, requested_at, sent_at, expires_at, alink_id, rrpc_id) VALUES ($1, $2, $3, $4, "
    "$5::jsonb, $6, $7, CASE WHEN $8::bigint = 0 THEN iot_now_ms() ELSE iot_ts($8::bigint) END, iot_ts($9), "
    "iot_ts($10), $11, $12) RETURNING " IOT_CALL_COLUMNS};
const Statement kCallGet{
    "call_get", "SELECT " IOT_CALL_COLUMNS " FROM service_calls WHERE device_id = $1 AND call_id = $2"};
const Statement kCallByAlink{
    "call_by_alink", "SELECT " IOT_CALL_COLUMNS
                     " FROM service_calls WHERE device_id = $1 "
                     "AND alink_id = $2 ORDER BY (status IN ('sent', 'timeout')) DESC, requested_at DESC "
                     "LIMIT 1"};
// $10: comma-separated allowed current statuses ('' = any); names come from our enum.
const Statement kCallUpdate{
    "call_update",
    "UPDATE service_calls SET status = $2, code = coalesce($3, code), "
    "message = coalesce($4, message), output = coalesce($5::jsonb, output), "
    "sent_at = coalesce(iot_ts($6), sent_at), replied_at = coalesce(iot_ts($7), replied_at), "
    "alink_id = coalesce($8, alink_id), rrpc_id = coalesce($9, rrpc_id) "
    "WHERE call_id = $1 AND ($10 = '' OR status = ANY (string_to_array($10, ','))) "
    "RETURNING " IOT_CALL_COLUMNS};
const Statement kCallExists{"call_exists", "SELECT 1 FROM service_calls WHERE call_id = $1"};
const Statement kCallsAsc{"calls_asc",
                          "SELECT " IOT_CALL_COLUMNS
                          " FROM service_calls WHERE device_id = $1 "
                          "AND ($2::text IS NULL OR identifier = $2) AND ($3::text IS NULL OR status = $3) "
                          "AND requested_at >= iot_ts($4) AND requested_at < iot_ts($5) "
                          "AND (requested_at, id) > (iot_ts($6), $7) ORDER BY requested_at, id LIMIT $8"};
const Statement kCallsDesc{
    "calls_desc", "SELECT " IOT_CALL_COLUMNS
                  " FROM service_calls WHERE device_id = $1 "
                  "AND ($2::text IS NULL OR identifier = $2) AND ($3::text IS NULL OR status = $3) "
                  "AND requested_at >= iot_ts($4) AND requested_at < iot_ts($5) "
                  "AND (requested_at, id) < (iot_ts($6), $7) ORDER BY requested_at DESC, id DESC LIMIT $8"};
const Statement kCallsQueued{"calls_queued", "SELECT " IOT_CALL_COLUMNS
                                             " FROM service_calls WHERE device_id = $1 "
                                             "AND status = 'queued' ORDER BY requested_at, id"};
const Statement kCallsExpire{
    "calls_expire",
    "UPDATE service_calls SET "
    "status = CASE WHEN status = 'queued' THEN 'expired' ELSE 'timeout' END, "
    "message = CASE WHEN status = 'queued' THEN 'not delivered before its time to live' "
    "ELSE 'the device did not answer in time' END "
    "WHERE status IN ('queued', 'sent') AND expires_at <= iot_ts($1) RETURNING " IOT_CALL_COLUMNS};
const Statement kCallByRrpc{"call_by_rrpc",
                            "SELECT " IOT_CALL_COLUMNS " FROM service_calls WHERE rrpc_id = $1 LIMIT 1"};
const Statement kCallsQueuedCount{"calls_queued_count",
                                  "SELECT count(*) FROM service_calls WHERE device_id = $1 "
                                  "AND status = 'queued'"};
const Statement kCallsQueuedOfProduct{
    "calls_queued_product", "SELECT " IOT_CALL_COLUMNS
                            " FROM service_calls WHERE status = 'queued' AND device_id IN "
                            "(SELECT id FROM devices WHERE product_key = $1) ORDER BY requested_at, id"};
const Statement kDeliverable{
    "calls_deliverable",
    "SELECT d.id, d.product_key, d.device_name FROM devices d WHERE d.status = 'online' "
    "AND d.enabled AND d.last_online_at <= iot_ts($1) AND EXISTS (SELECT 1 FROM service_calls c "
    "WHERE c.device_id = d.id AND c.status = 'queued') ORDER BY d.id LIMIT $2"};

const Statement kDesiredGet{"desired_get",
                            "SELECT identifier, value::text, version FROM desired_properties "
                            "WHERE device_id = $1 ORDER BY identifier"};
const Statement kDesiredLock{"desired_lock",
                             "SELECT version FROM desired_properties WHERE device_id = $1 "
                             "AND identifier = $2 FOR UPDATE"};
const Statement kDesiredSet{
    "desired_set",
    "INSERT INTO desired_properties (device_id, identifier, value, version) "
    "VALUES ($1, $2, $3::jsonb, 1) ON CONFLICT (device_id, identifier) DO UPDATE "
    "SET value = excluded.value, version = desired_properties.version + 1, updated_at = iot_now_ms() "
    "RETURNING version"};
const Statement kDesiredClear{
    "desired_clear",
    "UPDATE desired_properties SET value = NULL, version = version + 1, updated_at = iot_now_ms() "
    "WHERE device_id = $1 AND identifier = $2 AND ($3::int IS NULL OR version = $3)"};
const Statement kDeviceLock{"data_device_lock", "SELECT 1 FROM devices WHERE id = $1 FOR UPDATE"};

ServiceCall ReadCall(const pqxx::row& r) {
  ServiceCall c;
  c.call_id = r[0].as<std::string>();
  c.device_id = r[1].as<std::int64_t>();
  c.identifier = r[2].as<std::string>();
  Parse(r[3].as<std::string>(), c.call_type);
  c.params_json = r[4].as<std::string>();
  c.output_json = Opt<std::string>(r[5]);
  Parse(r[6].as<std::string>(), c.status);
  c.code = Opt<int>(r[7]);
  c.message = r[8].as<std::string>();
  c.requested_by = r[9].as<std::string>();
  c.requested_at = r[10].as<TimeMs>();
  c.sent_at = Opt<TimeMs>(r[11]);
  c.replied_at = Opt<TimeMs>(r[12]);
  c.expires_at = Opt<TimeMs>(r[13]);
  c.alink_id = r[14].as<std::string>();
  c.rrpc_id = r[15].as<std::string>();
  return c;
}

// Runs a keyset page: `read` converts a row and returns its (ts, id) for the next cursor.
template <class T, class Read>
Page<T> ToPage(const pqxx::result& r, int limit, Read read) {
  Page<T> out;
  TimeMs last_ts = 0;
  std::int64_t last_id = 0;
  for (const auto& row : r) {
    if (static_cast<int>(out.items.size()) == limit) {
      out.next_cursor = FormatCursor(last_ts, last_id);
      break;
    }
    out.items.push_back(read(row, last_ts, last_id));
  }
  return out;
}

}  // namespace

Result<std::vector<LatestProperty>> GetLatestProperties(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<LatestProperty>> {
    pqxx::read_transaction tx(c);
    std::vector<LatestProperty> out;
    for (const auto& row : Exec(tx, kLatest, device_id)) {
      out.push_back(LatestProperty{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<TimeMs>(),
                                   row[3].as<TimeMs>()});
    }
    return out;
  });
}

Result<std::vector<LatestProperty>> GetLatestPropertiesOf(Db& db, std::string_view product_key,
                                                          std::string_view device_name) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<LatestProperty>> {
    pqxx::nontransaction tx(c);  // one statement: no BEGIN/COMMIT round trips
    auto r = Exec(tx, kLatestOf, S(product_key), S(device_name));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<LatestProperty> out;
    for (const auto& row : r) {
      if (row[0].is_null()) {
        continue;  // the device, without values
      }
      out.push_back(LatestProperty{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<TimeMs>(),
                                   row[3].as<TimeMs>()});
    }
    return out;
  });
}

Result<Page<DeviceLatestValue>> ListLatestOfProperty(Db& db, std::string_view product_key,
                                                     std::string_view identifier, const PageQuery& page) {
  if (page.limit < 1 || page.limit > kMaxFleetLatestLimit) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<DeviceLatestValue>> {
    pqxx::nontransaction tx(c);  // one statement: no BEGIN/COMMIT round trips
    // Planned per call: the generic plan guesses 1% of devices hold the property and joins every device
    // with every latest row (3.5 s instead of 18 ms for 10,000 devices, seen in bench/api_read.sh).
    auto r = ExecPlanned(tx, kLatestOfProperty, S(product_key), S(identifier), page.cursor, page.limit + 1);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    Page<DeviceLatestValue> out;
    for (const auto& row : r) {
      if (row[0].is_null()) {
        continue;  // the product, without values
      }
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next_cursor = out.items.back().device_name;
        break;
      }
      out.items.push_back(
          DeviceLatestValue{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<TimeMs>()});
    }
    return out;
  });
}

namespace {

// One value of one property: from a property_posts row or a block.
struct Sample {
  TimeMs ts = 0;
  std::int64_t id = 0;
  std::string value;
};

bool Before(const Sample& a, const Sample& b) { return a.ts != b.ts ? a.ts < b.ts : a.id < b.id; }

// The values of `identifier` in the device's blocks with a device time in [from, to) and (ts, id) after
// the cursor in `order`, in that order, at most `want`. Blocks are read kBlocksPerRead at a time.
std::vector<Sample> BlockSamples(pqxx::transaction_base& tx, std::int64_t device_id,
                                 std::string_view identifier, TimeMs from, TimeMs to, Order order,
                                 TimeMs cursor_ts, std::int64_t cursor_id, std::size_t want) {
  const bool asc = order == Order::kAsc;
  // The rows wanted lie in [lo, hi); the cursor's own time is still in (ids decide).
  TimeMs lo = std::clamp(asc ? std::max(from, cursor_ts) : from, kMinTimeMs, kMaxTimeMs);
  TimeMs hi = std::clamp(asc ? to : std::min(to, cursor_ts == kMaxTimeMs ? cursor_ts : cursor_ts + 1),
                         kMinTimeMs, kMaxTimeMs);
  std::vector<Sample> out;
  if (lo >= hi || want == 0) {
    return out;
  }
  TimeMs block_ts = asc ? lo - kBlockSpanMs : hi;  // keyset of the last block read: none yet
  std::int64_t block_id = INT64_MIN;
  series::Block block;
  std::string error;
  while (true) {
    const auto r = ExecPlanned(tx, asc ? kBlocksAsc : kBlocksDesc, device_id, S(identifier), At(lo),
                               At(lo - kBlockSpanMs), At(hi), At(block_ts), block_id, kBlocksPerRead);
    for (const auto& row : r) {
      const pqxx::binarystring data(row[0]);
      if (!block.Decode(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()), error)) {
        throw std::runtime_error("a property block of device " + std::to_string(device_id) + ": " + error);
      }
      block_ts = row[1].as<TimeMs>();
      block_id = row[2].as<std::int64_t>();
      const int key = block.Find(identifier);
      if (key < 0) {
        continue;
      }
      const auto& rows = block.RowsOf(key);
      const auto& values = block.ValuesOf(key);
      for (std::size_t j = 0; j < rows.size(); ++j) {
        const std::size_t i = asc ? j : rows.size() - 1 - j;
        const TimeMs ts = block.ts_ms(rows[i]);
        const std::int64_t id = block.id(rows[i]);
        const bool after = asc ? (ts > cursor_ts || (ts == cursor_ts && id > cursor_id))
                               : (ts < cursor_ts || (ts == cursor_ts && id < cursor_id));
        if (ts < from || ts >= to || !after) {
          continue;
        }
        out.push_back(Sample{ts, id, std::string(values[i])});
        if (out.size() == want) {
          return out;
        }
      }
    }
    if (r.size() < static_cast<std::size_t>(kBlocksPerRead)) {
      return out;
    }
  }
}

}  // namespace

Result<Page<PropertySample>> ListPropertyHistory(Db& db, std::int64_t device_id, std::string_view identifier,
                                                 const TimeQuery& q) {
  KeysetBounds b;
  if (!MakeBounds(q, b)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<PropertySample>> {
    // One snapshot for blocks and rows: compaction moves a device's rows into blocks in one transaction.
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(c);
    const auto want = static_cast<std::size_t>(q.limit) + 1;
    auto blocks =
        BlockSamples(tx, device_id, identifier, b.from, b.to, q.order, b.cursor_ts, b.cursor_id, want);
    std::vector<Sample> rows;
    for (const auto& row :
         ExecPlanned(tx, q.order == Order::kAsc ? kHistoryAsc : kHistoryDesc, device_id, S(identifier),
                     At(b.from), At(b.to), At(b.cursor_ts), b.cursor_id, q.limit + 1)) {
      rows.push_back(Sample{row[1].as<TimeMs>(), row[2].as<std::int64_t>(), row[0].as<std::string>()});
    }
    std::vector<Sample> merged;
    merged.reserve(blocks.size() + rows.size());
    if (q.order == Order::kAsc) {
      std::merge(std::make_move_iterator(blocks.begin()), std::make_move_iterator(blocks.end()),
                 std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()),
                 std::back_inserter(merged), Before);
    } else {
      std::merge(std::make_move_iterator(blocks.begin()), std::make_move_iterator(blocks.end()),
                 std::make_move_iterator(rows.begin()), std::make_move_iterator(rows.end()),
                 std::back_inserter(merged), [](const Sample& x, const Sample& y) { return Before(y, x); });
    }
    Page<PropertySample> out;
    for (auto& sample : merged) {
      if (static_cast<int>(out.items.size()) == q.limit) {
        out.next_cursor = FormatCursor(out.items.back().time, merged[out.items.size() - 1].id);
        break;
      }
      out.items.push_back(PropertySample{std::move(sample.value), sample.ts});
    }
    return out;
  });
}

namespace {

// The whole `unit`s inside [from, to) as [first, end), when buckets of `interval_ms` are made of whole units
// (both aligned to the epoch) and at least one unit fits.
std::optional<std::pair<TimeMs, TimeMs>> WholeUnits(TimeMs from, TimeMs to, TimeMs interval_ms, TimeMs unit) {
  const TimeMs first = CeilTo(from, unit);
  const TimeMs end = FloorTo(to, unit);
  if (interval_ms % unit != 0 || first >= end) {
    return std::nullopt;
  }
  return std::pair{first, end};
}

}  // namespace

Result<std::vector<AggregateBucket>> AggregateProperty(Db& db, std::int64_t device_id,
                                                       std::string_view identifier, const AggregateQuery& q) {
  if (q.interval_ms < 1000 || q.to <= q.from || (q.to - q.from) / q.interval_ms > 100000) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<AggregateBucket>> {
    // One snapshot for the bounds and the values (a roll or merge between them must not count twice).
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::readwrite_policy::read_only> tx(c);
    // Whole hours inside [from, to) may come from the rollups when buckets are whole hours (aligned to
    // the epoch like the hours).
    TimeMs lo = q.from;
    TimeMs hi = q.from;
    bool late = false;
    if (auto hours = WholeUnits(q.from, q.to, q.interval_ms, kHourMs)) {
      const auto bounds = Exec(tx, kAggregateBounds, device_id, hours->first, hours->second)[0];
      lo = bounds[0].as<TimeMs>();
      hi = bounds[1].as<TimeMs>();
      late = bounds[2].as<bool>();
    }
    const auto days = WholeUnits(lo, hi, q.interval_ms, kUtcDayMs).value_or(std::pair{lo, lo});
    // What the raw-row branches read, [from, lo) and [hi, to), from blocks too: the numbers among them
    // (a JSON number's text starts with a digit or a minus).
    TextArray block_ts;
    TextArray block_ids;
    std::string block_values;
    for (const auto& [start, end] : {std::pair{q.from, lo}, std::pair{hi, q.to}}) {
      for (const auto& sample :
           BlockSamples(tx, device_id, identifier, start, end, Order::kAsc, start, INT64_MIN, SIZE_MAX)) {
        const char first = sample.value.empty() ? ' ' : sample.value[0];
        if (first == '-' || (first >= '0' && first <= '9')) {
          block_ts.Add(sample.ts);
          block_ids.Add(sample.id);
          block_values.append(block_values.empty() ? "{" : ",").append(sample.value);
        }
      }
    }
    std::string sql = kAggregateRollups;
    if (late) {
      sql += kAggregateLate;
    }
    if (!block_values.empty()) {
      sql += kAggregateBlocks;
      block_values += "}";
    }
    sql += kAggregateBuckets;
    std::vector<AggregateBucket> out;
    const auto rows = block_values.empty()
                          ? ExecPlanned(tx, sql, device_id, S(identifier), At(q.from), At(q.to),
                                        q.interval_ms, At(lo), At(hi), At(days.first), At(days.second))
                          : ExecPlanned(tx, sql, device_id, S(identifier), At(q.from), At(q.to),
                                        q.interval_ms, At(lo), At(hi), At(days.first), At(days.second),
                                        block_ts.Take(), block_ids.Take(), block_values);
    for (const auto& row : rows) {
      out.push_back(AggregateBucket{row[0].as<TimeMs>(), row[1].as<double>(), row[2].as<double>(),
                                    row[3].as<double>(), row[4].as<std::int64_t>(), row[5].as<double>(),
                                    row[6].as<double>()});
    }
    return out;
  });
}

Result<Page<EventRecord>> ListEvents(Db& db, std::int64_t device_id, const EventFilter& filter,
                                     const TimeQuery& q) {
  KeysetBounds b;
  if (!MakeBounds(q, b)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<EventRecord>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, q.order == Order::kAsc ? kEventsAsc : kEventsDesc, device_id, filter.identifier,
                  filter.type, b.from, b.to, b.cursor_ts, b.cursor_id, q.limit + 1);
    return ToPage<EventRecord>(r, q.limit, [](const pqxx::row& row, TimeMs& ts, std::int64_t& id) {
      ts = row[3].as<TimeMs>();
      id = row[4].as<std::int64_t>();
      return EventRecord{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(), ts};
    });
  });
}

Result<Page<Rejection>> ListRejections(Db& db, std::int64_t device_id, const TimeQuery& q) {
  KeysetBounds b;
  if (!MakeBounds(q, b)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<Rejection>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, q.order == Order::kAsc ? kRejAsc : kRejDesc, device_id, b.from, b.to, b.cursor_ts,
                  b.cursor_id, q.limit + 1);
    return ToPage<Rejection>(r, q.limit, [](const pqxx::row& row, TimeMs& ts, std::int64_t& id) {
      ts = row[0].as<TimeMs>();
      id = row[6].as<std::int64_t>();
      return Rejection{ts,
                       row[1].as<std::string>(),
                       row[2].as<std::string>(),
                       row[3].as<std::string>(),
                       row[4].as<int>(),
                       row[5].as<std::string>()};
    });
  });
}

Result<ServiceCall> CreateServiceCall(Db& db, const ServiceCallCreate& req) {
  const std::string call_id = RandomHex(16);
  return Run(db, [&](pqxx::connection& c) -> Result<ServiceCall> {
    pqxx::work tx(c);
    if (Exec(tx, kDeviceExists, req.device_id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kCallInsert, call_id, req.device_id, req.identifier, S(ToString(req.call_type)),
                  req.params_json, S(ToString(req.status)), req.requested_by, req.requested_at, req.sent_at,
                  req.expires_at, req.alink_id, req.rrpc_id);
    if (req.audit) {
      AuditRecord record = *req.audit;
      nlohmann::json detail = nlohmann::json::parse(record.detail_json, nullptr, false);
      if (!detail.is_object()) {
        detail = nlohmann::json::object();
      }
      detail["callId"] = call_id;
      record.detail_json = detail.dump();
      AppendAuditIn(tx, record);
    }
    tx.commit();
    return ReadCall(r[0]);
  });
}

Result<ServiceCall> GetServiceCall(Db& db, std::int64_t device_id, std::string_view call_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ServiceCall> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kCallGet, device_id, S(call_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadCall(r[0]);
  });
}

Result<ServiceCall> FindServiceCallByAlinkId(Db& db, std::int64_t device_id, std::string_view alink_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ServiceCall> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kCallByAlink, device_id, S(alink_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadCall(r[0]);
  });
}

Result<ServiceCall> UpdateServiceCall(Db& db, std::string_view call_id, const ServiceCallUpdate& u) {
  return UpdateServiceCallForwarded(db, call_id, u, {});
}

Result<ServiceCall> UpdateServiceCallForwarded(Db& db, std::string_view call_id, const ServiceCallUpdate& u,
                                               const std::vector<ForwardMessage>& forward) {
  std::string from;
  for (auto s : u.from) {
    if (!from.empty()) {
      from.push_back(',');
    }
    from += ToString(s);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<ServiceCall> {
    pqxx::work tx(c);
    auto r = Exec(tx, kCallUpdate, S(call_id), S(ToString(u.status)), u.code, u.message, u.output_json,
                  u.sent_at, u.replied_at, u.alink_id, u.rrpc_id, from);
    if (r.empty()) {
      return make_error_code(Exec(tx, kCallExists, S(call_id)).empty() ? Errc::kNotFound : Errc::kConflict);
    }
    ServiceCall call = ReadCall(r[0]);
    if (!forward.empty()) {
      std::vector<const ForwardMessage*> messages;
      for (const auto& m : forward) {
        messages.push_back(&m);
      }
      WriteOutbox(tx, std::vector<std::int64_t>(messages.size(), call.device_id), messages);
    }
    tx.commit();
    return call;
  });
}

Result<Page<ServiceCall>> ListServiceCalls(Db& db, std::int64_t device_id, const ServiceCallFilter& filter,
                                           const TimeQuery& q) {
  KeysetBounds b;
  if (!MakeBounds(q, b)) {
    return make_error_code(Errc::kInvalid);
  }
  std::optional<std::string> status;
  if (filter.status) {
    status = S(ToString(*filter.status));
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<ServiceCall>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, q.order == Order::kAsc ? kCallsAsc : kCallsDesc, device_id, filter.identifier, status,
                  b.from, b.to, b.cursor_ts, b.cursor_id, q.limit + 1);
    return ToPage<ServiceCall>(r, q.limit, [](const pqxx::row& row, TimeMs& ts, std::int64_t& id) {
      auto call = ReadCall(row);
      ts = call.requested_at;
      id = row[16].as<std::int64_t>();
      return call;
    });
  });
}

Result<std::vector<ServiceCall>> ListQueuedServiceCalls(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ServiceCall>> {
    pqxx::read_transaction tx(c);
    std::vector<ServiceCall> out;
    for (const auto& row : Exec(tx, kCallsQueued, device_id)) {
      out.push_back(ReadCall(row));
    }
    return out;
  });
}

Result<std::vector<ServiceCall>> ExpireServiceCalls(Db& db, TimeMs now) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ServiceCall>> {
    pqxx::work tx(c);
    std::vector<ServiceCall> out;
    for (const auto& row : Exec(tx, kCallsExpire, now)) {
      out.push_back(ReadCall(row));
    }
    tx.commit();
    return out;
  });
}

Result<ServiceCall> FindServiceCallByRrpcId(Db& db, std::string_view rrpc_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ServiceCall> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kCallByRrpc, S(rrpc_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadCall(r[0]);
  });
}

Result<std::int64_t> CountQueuedServiceCalls(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::read_transaction tx(c);
    return Exec(tx, kCallsQueuedCount, device_id)[0][0].as<std::int64_t>();
  });
}

Result<std::vector<ServiceCall>> ListQueuedServiceCallsOfProduct(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ServiceCall>> {
    pqxx::read_transaction tx(c);
    std::vector<ServiceCall> out;
    for (const auto& row : Exec(tx, kCallsQueuedOfProduct, S(product_key))) {
      out.push_back(ReadCall(row));
    }
    return out;
  });
}

Result<std::vector<QueuedDevice>> ListDeliverableDevices(Db& db, TimeMs online_before, int limit) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<QueuedDevice>> {
    pqxx::read_transaction tx(c);
    std::vector<QueuedDevice> out;
    for (const auto& row : Exec(tx, kDeliverable, online_before, limit)) {
      out.push_back(
          QueuedDevice{row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::string>()});
    }
    return out;
  });
}

Result<std::vector<DesiredProperty>> GetDesiredProperties(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<DesiredProperty>> {
    pqxx::read_transaction tx(c);
    std::vector<DesiredProperty> out;
    for (const auto& row : Exec(tx, kDesiredGet, device_id)) {
      out.push_back(DesiredProperty{row[0].as<std::string>(), Opt<std::string>(row[1]), row[2].as<int>()});
    }
    return out;
  });
}

Result<std::map<std::string, int>> SetDesiredProperties(Db& db, std::int64_t device_id,
                                                        const std::vector<DesiredChange>& changes) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::map<std::string, int>> {
    pqxx::work tx(c);
    if (Exec(tx, kDeviceLock, device_id).empty()) {  // also serialises writers of one device
      return make_error_code(Errc::kNotFound);
    }
    // Check every expected version first: all or nothing.
    for (const auto& ch : changes) {
      if (!ch.expected_version) {
        continue;
      }
      auto r = Exec(tx, kDesiredLock, device_id, ch.identifier);
      const int current = r.empty() ? 0 : r[0][0].as<int>();
      if (current != *ch.expected_version) {
        return make_error_code(Errc::kVersionMismatch);
      }
    }
    std::map<std::string, int> versions;
    for (const auto& ch : changes) {
      // A clear is stored as a NULL value with the version incremented (keeps version history).
      auto r = Exec(tx, kDesiredSet, device_id, ch.identifier, ch.value_json);
      versions[ch.identifier] = r[0][0].as<int>();
    }
    tx.commit();
    return versions;
  });
}

Result<void> DeleteDesiredFromDevice(Db& db, std::int64_t device_id,
                                     const std::vector<DesiredChange>& changes) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    for (const auto& ch : changes) {
      Exec(tx, kDesiredClear, device_id, ch.identifier, ch.expected_version);
    }
    tx.commit();
    return {};
  });
}

}  // namespace iot::store

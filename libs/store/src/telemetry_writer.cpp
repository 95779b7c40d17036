#include "iot/store/telemetry_writer.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "connection.hpp"
#include "iot/store/stream.hpp"

namespace iot::store {
namespace {

// Dedupe keys of the batch; an existing key counts only while it is younger than the window.
const Statement kDedupe{
    "writer_dedupe",
    "INSERT INTO message_dedupe (device_id, message_id, payload_hash, received_at) "
    "SELECT d, m, h, to_timestamp(r::float8 / 1000) "
    "FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) "
    "AS u(d, m, h, r) "
    "ON CONFLICT (device_id, message_id, payload_hash) DO UPDATE SET received_at = excluded.received_at "
    "WHERE message_dedupe.received_at < excluded.received_at - interval '10 minutes' "
    "RETURNING device_id, message_id, payload_hash"};
// Per row, to_timestamp(ms / 1000.0) instead of iot_ts(ms): the same instant for every millisecond value
// (rint to microseconds; checked equal for 3 million values), but iot_ts is never inlined (declared
// IMMUTABLE around the STABLE timestamptz + interval), so each call ran as a nested SQL function:
// ~2 us per row, the largest single cost of the latest upsert (docs/BENCHMARKS.md, end-to-end).
// Rows are unique per (device, identifier) (newest ts kept in C++): one statement cannot update a row
// twice. An older device time never replaces a newer one.
const Statement kLatest{
    "writer_latest",
    "INSERT INTO latest_properties (device_id, identifier, value, ts, received_at) "
    "SELECT d, i, v::jsonb, to_timestamp(t::float8 / 1000), to_timestamp(r::float8 / 1000) "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u(d, i, v, t, r) "
    "ON CONFLICT (device_id, identifier) DO UPDATE SET value = excluded.value, ts = excluded.ts, "
    "received_at = excluded.received_at WHERE excluded.ts >= latest_properties.ts"};

const Statement kStreamNotify{"writer_stream_notify", "SELECT pg_notify('iot_stream', $1)"};
// Is iot-api's stream listener there? It holds kStreamPresenceLockKey shared (pg_locks shows int8
// advisory keys as classid = high half, objid = low half, objsubid = 1). pg_locks covers the whole
// cluster: only a listener of this database counts (another platform or test database may hold the key).
const Statement kStreamListening{
    "writer_stream_listening",
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1)"};
constexpr auto kStreamCheckInterval = kStreamPresenceCheck;

// PostgreSQL array literal of text elements: every element quoted, " and \ escaped.
class TextArray {
 public:
  void Add(std::string_view v) {
    out_.push_back(out_.empty() ? '{' : ',');
    out_.push_back('"');
    for (char c : v) {
      if (c == '"' || c == '\\') {
        out_.push_back('\\');
      }
      out_.push_back(c);
    }
    out_.push_back('"');
  }
  void Add(std::int64_t v) {
    out_.push_back(out_.empty() ? '{' : ',');
    out_ += std::to_string(v);
  }
  std::string Take() {
    if (out_.empty()) {
      return "{}";
    }
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  std::string out_;
};

std::int64_t HashParam(std::uint64_t h) {
  std::int64_t v;
  std::memcpy(&v, &h, sizeof v);
  return v;
}

using DedupeKey = std::tuple<std::int64_t, std::string, std::int64_t>;

// Writes messages `idx` of `batch` in one transaction. Throws on failure (the caller bisects).
void WriteOnce(pqxx::connection& c, std::span<const TelemetryMessage> batch,
               const std::vector<std::size_t>& idx, std::vector<MessageResult>& results, WriterStats& stats,
               bool stream) {
  pqxx::work tx(c);
  // 1. Dedupe.
  std::vector<std::size_t> fresh;
  {
    TextArray d, m, h, r;
    bool any = false;
    for (auto i : idx) {
      const auto& msg = batch[i];
      if (msg.message_id.empty()) {
        continue;
      }
      any = true;
      d.Add(msg.device_id);
      m.Add(msg.message_id);
      h.Add(HashParam(msg.payload_hash));
      r.Add(msg.received_at);
    }
    std::set<DedupeKey> inserted;
    if (any) {
      for (const auto& row : Exec(tx, kDedupe, d.Take(), m.Take(), h.Take(), r.Take())) {
        inserted.emplace(row[0].as<std::int64_t>(), row[1].as<std::string>(), row[2].as<std::int64_t>());
      }
    }
    for (auto i : idx) {
      const auto& msg = batch[i];
      if (msg.message_id.empty() ||
          inserted.count({msg.device_id, msg.message_id, HashParam(msg.payload_hash)}) != 0) {
        fresh.push_back(i);
      } else {
        results[i].outcome = WriteOutcome::kDuplicate;
      }
    }
  }
  // 2. COPY history, events, rejections of the new messages.
  std::uint64_t rows = 0;
  bool has_props = false, has_events = false, has_rej = false;
  for (auto i : fresh) {
    has_props |= !batch[i].properties.empty();
    has_events |= !batch[i].events.empty();
    has_rej |= !batch[i].rejections.empty();
  }
  if (has_props) {
    pqxx::stream_to s(tx, "property_history",
                      std::vector<std::string>{"device_id", "identifier", "value", "ts", "received_at"});
    // The items of a message nearly always share one time (often the receive time): format each
    // distinct time once (snprintf + gmtime_r per row was ~3% of the gateway's CPU).
    TimeMs ts_ms = 0;
    std::string ts_text;
    for (auto i : fresh) {
      const auto& msg = batch[i];
      const std::string received = FormatTimestamp(msg.received_at);
      for (const auto& p : msg.properties) {
        if (ts_text.empty() || p.time != ts_ms) {
          ts_ms = p.time;
          ts_text = p.time == msg.received_at ? received : FormatTimestamp(p.time);
        }
        s << std::make_tuple(msg.device_id, p.identifier, p.value_json, ts_text, received);
        ++rows;
      }
    }
    s.complete();
  }
  if (has_events) {
    pqxx::stream_to s(
        tx, "events",
        std::vector<std::string>{"device_id", "identifier", "type", "output", "ts", "received_at"});
    for (auto i : fresh) {
      const auto& msg = batch[i];
      const std::string received = FormatTimestamp(msg.received_at);
      for (const auto& e : msg.events) {
        s << std::make_tuple(msg.device_id, e.identifier, e.type,
                             e.output_json.empty() ? std::string("{}") : e.output_json,
                             FormatTimestamp(e.time), received);
        ++rows;
      }
    }
    s.complete();
  }
  if (has_rej) {
    pqxx::stream_to s(tx, "rejections",
                      std::vector<std::string>{"device_id", "ts", "method", "identifier", "value", "code",
                                               "message", "received_at"});
    for (auto i : fresh) {
      const auto& msg = batch[i];
      const std::string received = FormatTimestamp(msg.received_at);
      for (const auto& rj : msg.rejections) {
        s << std::make_tuple(msg.device_id, FormatTimestamp(rj.time), rj.method, rj.identifier, rj.value,
                             rj.code, rj.message, received);
        ++rows;
      }
    }
    s.complete();
  }
  // 3. Latest values: newest device time per (device, identifier) within the batch, sorted so
  //    concurrent writers lock rows in the same order.
  if (has_props) {
    std::map<std::pair<std::int64_t, std::string_view>, std::pair<const PropertyItem*, TimeMs>> newest;
    for (auto i : fresh) {
      const auto& msg = batch[i];
      for (const auto& p : msg.properties) {
        auto [it, added] = newest.try_emplace({msg.device_id, p.identifier}, &p, msg.received_at);
        if (!added && p.time >= it->second.first->time) {
          it->second = {&p, msg.received_at};
        }
      }
    }
    TextArray d, id, v, t, r;
    for (const auto& [key, val] : newest) {
      d.Add(key.first);
      id.Add(key.second);
      v.Add(val.first->value_json);
      t.Add(val.first->time);
      r.Add(val.second);
    }
    Exec(tx, kLatest, d.Take(), id.Take(), v.Take(), t.Take(), r.Take());
  }
  // 4. Live stream: delivered to listeners exactly when this transaction commits, in batch order.
  if (stream && (has_props || has_events || has_rej)) {
    StreamPayloadBuilder builder;
    for (auto i : fresh) {
      const auto& msg = batch[i];
      builder.AddProperties(msg.device_id, msg.properties);
      for (const auto& e : msg.events) {
        builder.AddEvent(msg.device_id, e);
      }
      for (const auto& rj : msg.rejections) {
        builder.AddRejection(msg.device_id, rj);
      }
    }
    for (const auto& payload : builder.Take()) {
      Exec(tx, kStreamNotify, payload);
    }
  }
  tx.commit();
  stats.rows += rows;
  for (auto i : fresh) {
    results[i].outcome = WriteOutcome::kStored;
  }
}

}  // namespace

bool TelemetryWriter::StreamListening() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_stream_check_) {
    return stream_listening_;
  }
  next_stream_check_ = now + kStreamCheckInterval;
  try {
    auto& conn = db_.ConnectionForStore();
    pqxx::nontransaction tx(conn.Pq());
    const auto key = static_cast<std::uint64_t>(kStreamPresenceLockKey);
    stream_listening_ = Exec(tx, kStreamListening, static_cast<std::int64_t>(key >> 32),
                             static_cast<std::int64_t>(key & 0xffffffffU))[0][0]
                            .as<bool>();
  } catch (...) {
    stream_listening_ = false;  // the batch's own transaction reports a broken connection
  }
  return stream_listening_;
}

Result<std::vector<MessageResult>> TelemetryWriter::Write(std::span<const TelemetryMessage> batch) {
  std::vector<MessageResult> results(batch.size());
  if (batch.empty()) {
    return results;
  }
  auto& conn = db_.ConnectionForStore();
  if (auto r = conn.Ensure(false); !r) {
    return r.error();
  }
  ++stats_.batches;
  stats_.messages += batch.size();

  // The same key twice in one batch: the later copy is a duplicate (a statement cannot upsert twice).
  std::vector<std::size_t> all;
  {
    std::set<DedupeKey> seen;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& m = batch[i];
      if (!m.message_id.empty() &&
          !seen.emplace(m.device_id, m.message_id, HashParam(m.payload_hash)).second) {
        results[i].outcome = WriteOutcome::kDuplicate;
        continue;
      }
      all.push_back(i);
    }
  }

  const bool stream = StreamListening();

  // Bisection: a failed transaction is retried as two halves until the bad message stands alone.
  std::vector<std::vector<std::size_t>> work{std::move(all)};
  bool first = true;
  while (!work.empty()) {
    auto part = std::move(work.back());
    work.pop_back();
    if (part.empty()) {
      continue;
    }
    if (!first) {
      ++stats_.retries;
    }
    first = false;
    try {
      if (!conn.IsOpen()) {
        if (auto r = conn.Ensure(true); !r) {
          return r.error();
        }
      }
      WriteOnce(conn.Pq(), batch, part, results, stats_, stream);
    } catch (...) {
      const Errc code = MapCurrentException(&conn);
      if (code == Errc::kUnavailable) {
        return make_error_code(code);  // retry the whole batch later; stored parts dedupe
      }
      if (part.size() == 1) {
        results[part[0]] = MessageResult{WriteOutcome::kFailed, make_error_code(code)};
        continue;
      }
      const auto mid = part.begin() + static_cast<std::ptrdiff_t>(part.size() / 2);
      work.emplace_back(mid, part.end());
      work.emplace_back(part.begin(), mid);
    }
  }
  for (const auto& r : results) {
    stats_.duplicates += r.outcome == WriteOutcome::kDuplicate ? 1 : 0;
    stats_.failed += r.outcome == WriteOutcome::kFailed ? 1 : 0;
  }
  return results;
}

}  // namespace iot::store

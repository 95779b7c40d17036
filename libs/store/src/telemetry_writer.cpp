#include "iot/store/telemetry_writer.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "alarms_tx.hpp"
#include "connection.hpp"
#include "forwarding_tx.hpp"
#include "iot/common/json_text.hpp"
#include "iot/store/stream.hpp"
#include "text_array.hpp"

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
// Latest values, one row per device: {"<identifier>": [<value>, <device time ms>, <received ms>], ...}.
// $2 holds the batch's newest value per identifier of each device (one element per device: a statement
// cannot update a row twice); an identifier replaces the stored one unless that has a newer device
// time, so an older device time never replaces a newer one (per identifier, like the old per-value rows).
const Statement kLatest{
    "writer_latest",
    "INSERT INTO device_latest AS l (device_id, props) "
    "SELECT d, p::jsonb FROM unnest($1::bigint[], $2::text[]) AS u(d, p) "
    "ON CONFLICT (device_id) DO UPDATE SET props = l.props || ("
    "  SELECT coalesce(jsonb_object_agg(n.key, n.value), '{}'::jsonb) FROM jsonb_each(excluded.props) n"
    "  WHERE NOT coalesce((l.props -> n.key ->> 1)::bigint > (n.value ->> 1)::bigint, false))"};

// The stored latest values of the devices whose alarm rules are evaluated, locked until commit.
const Statement kLatestForAlarms{
    "writer_latest_for_alarms",
    "SELECT device_id, props::text FROM device_latest WHERE device_id = ANY($1::bigint[]) "
    "ORDER BY device_id FOR UPDATE"};

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

std::int64_t HashParam(std::uint64_t h) {
  std::int64_t v;
  std::memcpy(&v, &h, sizeof v);
  return v;
}

using DedupeKey = std::tuple<std::int64_t, std::string, std::int64_t>;

// One history row: the values of a message at one device time, {"<identifier>": <value>, ...}.
struct HistoryRow {
  TimeMs time = 0;
  std::string props;
};

// The rows of one message, in the order of the first item of each time: its properties grouped by
// device time, an identifier that occurs again at the same time going to the next row of that time
// (a row holds each identifier once, so (ts, id) orders one property's values as before).
// True when all properties share one time and no identifier repeats (the usual post): one row.
bool OneHistoryRow(const std::vector<PropertyItem>& items) {
  constexpr std::size_t kPairwiseLimit = 32;  // beyond that the general path's maps are cheaper
  if (items.size() > kPairwiseLimit) {
    return false;
  }
  for (std::size_t i = 1; i < items.size(); ++i) {
    if (items[i].time != items[0].time) {
      return false;
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (items[j].identifier == items[i].identifier) {
        return false;
      }
    }
  }
  return true;
}

void AppendHistoryValue(std::string& props, const PropertyItem& p) {
  if (props.size() > 1) {
    props.push_back(',');
  }
  AppendJsonString(props, p.identifier);
  props.push_back(':');
  props.append(p.value_json);
}

void HistoryRowsOf(const TelemetryMessage& msg, std::vector<HistoryRow>& rows) {
  rows.clear();
  if (msg.properties.empty()) {
    return;
  }
  if (OneHistoryRow(msg.properties)) {
    rows.push_back(HistoryRow{msg.properties.front().time, "{"});
    for (const auto& p : msg.properties) {
      AppendHistoryValue(rows.back().props, p);
    }
    rows.back().props.push_back('}');
    return;
  }
  // (time, occurrence of the identifier at that time) -> row index. Small: a handful of items.
  std::map<std::pair<TimeMs, std::size_t>, std::size_t> row_of;
  std::map<std::pair<TimeMs, std::string_view>, std::size_t> seen;
  for (const auto& p : msg.properties) {
    const std::size_t occurrence = seen[{p.time, p.identifier}]++;
    auto [it, added] = row_of.try_emplace({p.time, occurrence}, rows.size());
    if (added) {
      rows.push_back(HistoryRow{p.time, "{"});
    }
    AppendHistoryValue(rows[it->second].props, p);
  }
  for (auto& row : rows) {
    row.props.push_back('}');
  }
}

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
    pqxx::stream_to s(tx, "property_posts",
                      std::vector<std::string>{"device_id", "ts", "received_at", "props"});
    // The items of a message nearly always share one time (often the receive time): format each
    // distinct time once (snprintf + gmtime_r per row was ~3% of the gateway's CPU).
    TimeMs ts_ms = 0;
    std::string ts_text;
    std::vector<HistoryRow> rows_of_message;
    for (auto i : fresh) {
      const auto& msg = batch[i];
      const std::string received = FormatTimestamp(msg.received_at);
      HistoryRowsOf(msg, rows_of_message);
      for (const auto& row : rows_of_message) {
        if (ts_text.empty() || row.time != ts_ms) {
          ts_ms = row.time;
          ts_text = row.time == msg.received_at ? received : FormatTimestamp(row.time);
        }
        s << std::make_tuple(msg.device_id, ts_text, received, row.props);
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
  // 2b. Alarms: the messages of products with alarm rules, per device in order, on the devices' values.
  {
    std::map<std::int64_t, std::vector<const TelemetryMessage*>> of_device;
    for (auto i : fresh) {
      if (batch[i].alarms) {
        of_device[batch[i].device_id].push_back(&batch[i]);
      }
    }
    if (!of_device.empty()) {
      // Under a savepoint: an alarm that cannot be written (its rule deleted at this very moment, ...)
      // must not cost the batch its data; it is counted instead.
      try {
        pqxx::subtransaction sub(tx, "alarms");
        TextArray ids;
        for (const auto& [device, messages] : of_device) {
          ids.Add(device);
        }
        const std::string id_array = ids.Take();
        std::map<std::int64_t, std::string> stored;
        for (const auto& row : Exec(sub, kLatestForAlarms, id_array)) {
          stored.emplace(row[0].as<std::int64_t>(), row[1].as<std::string>());
        }
        AlarmKnown known = ReadAlarmState(sub, id_array);
        std::vector<AlarmSignal> signals;
        for (const auto& [device, messages] : of_device) {
          signals.clear();
          auto it = stored.find(device);
          messages.front()->alarms->Evaluate(
              it == stored.end() ? std::string_view("{}") : std::string_view(it->second), messages, device,
              signals);
          ApplyAlarmSignals(sub, device, signals, known);
        }
        sub.commit();
      } catch (const pqxx::sql_error&) {
        ++stats.alarm_failures;
      }
    }
  }
  // 3. Latest values: newest device time per (device, identifier) within the batch, one element per
  //    device, devices sorted so concurrent writers lock rows in the same order.
  if (has_props) {
    std::map<std::int64_t, std::map<std::string_view, std::pair<const PropertyItem*, TimeMs>>> newest;
    for (auto i : fresh) {
      const auto& msg = batch[i];
      if (msg.properties.empty()) {
        continue;
      }
      auto& of_device = newest[msg.device_id];
      for (const auto& p : msg.properties) {
        auto [it, added] = of_device.try_emplace(p.identifier, &p, msg.received_at);
        if (!added && p.time >= it->second.first->time) {
          it->second = {&p, msg.received_at};
        }
      }
    }
    TextArray d, props;
    std::string object;
    for (const auto& [device, values] : newest) {
      object.assign(1, '{');
      for (const auto& [identifier, value] : values) {
        if (object.size() > 1) {
          object.push_back(',');
        }
        AppendJsonString(object, identifier);
        object.append(":[").append(value.first->value_json).push_back(',');
        object.append(std::to_string(value.first->time)).push_back(',');
        object.append(std::to_string(value.second)).push_back(']');
      }
      object.push_back('}');
      d.Add(device);
      props.Add(object);
    }
    Exec(tx, kLatest, d.Take(), props.Take());
  }
  // 4. Forwarding outbox: the rows of the stored messages, in batch order (per device in order).
  {
    std::vector<std::int64_t> devices;
    std::vector<const ForwardMessage*> forward;
    for (auto i : fresh) {
      for (const auto& f : batch[i].forward) {
        devices.push_back(batch[i].device_id);
        forward.push_back(&f);
      }
    }
    WriteOutbox(tx, devices, forward);
  }
  // 5. Live stream: delivered to listeners exactly when this transaction commits, in batch order.
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

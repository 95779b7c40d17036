#include "iot/store/forwarding.hpp"

#include <algorithm>
#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "connection.hpp"
#include "forwarding_tx.hpp"
#include "iot/common/json_text.hpp"
#include "text_array.hpp"

namespace iot::store {
namespace {

#define IOT_RULE_COLUMNS                                                                                   \
  "r.id, r.name, r.enabled, r.product_key, array_to_json(r.kinds)::text, r.filter, r.destinations::text, " \
  "iot_ms(r.created_at), iot_ms(r.updated_at), r.created_by, r.include_device_secret"

const Statement kInsertRule{
    "fwd_insert_rule",
    "INSERT INTO forward_rules AS r (name, enabled, product_key, kinds, filter, destinations, created_by, "
    "include_device_secret) "
    "VALUES ($1, $2, $3, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5, $6::jsonb, $7, $8) "
    "RETURNING " IOT_RULE_COLUMNS};
// A new rule starts at the current end of the outbox: rows of transactions that ended before it cannot
// name it (017_forwarding.sql).
const Statement kInsertCursor{
    "fwd_insert_cursor",
    "INSERT INTO forward_cursors (rule_id, txid) VALUES ($1, pg_snapshot_xmin(pg_current_snapshot()))"};
const Statement kListRules{"fwd_list_rules",
                           "SELECT " IOT_RULE_COLUMNS " FROM forward_rules r ORDER BY r.id"};
const Statement kGetRule{"fwd_get_rule", "SELECT " IOT_RULE_COLUMNS " FROM forward_rules r WHERE r.id = $1"};
const Statement kPatchRule{
    "fwd_patch_rule",
    "UPDATE forward_rules AS r SET name = coalesce($2, name), enabled = coalesce($3, enabled), "
    "filter = coalesce($4, filter), destinations = coalesce($5::jsonb, destinations), "
    "include_device_secret = coalesce($6, include_device_secret), updated_at = iot_now_ms() "
    "WHERE id = $1 RETURNING " IOT_RULE_COLUMNS};
const Statement kDeleteRule{"fwd_delete_rule", "DELETE FROM forward_rules WHERE id = $1 RETURNING 1"};

const Statement kWriteOutbox{
    "fwd_write_outbox",
    "INSERT INTO forward_outbox (slot, rule_ids, kind, topic, device_id, product_key, device_name, iot_id, "
    "payload) "
    // The current slot once for the statement (022_outbox_slots.sql), not the column default's per row.
    "SELECT (SELECT slot FROM forward_outbox_state), u.r::bigint[], u.k, u.t, d.id, d.product_key, "
    "d.device_name, d.iot_id, "
    // The body is a JSON object from the gateway ("{...}"): the iotId goes in first, as text (022).
    "'{\"iotId\":' || to_json(d.iot_id)::text || CASE WHEN u.p = '{}' THEN '}' ELSE ',' || substr(u.p, 2) "
    "END "
    "FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY "
    "AS u(dev, r, k, t, p, n) JOIN devices d ON d.id = u.dev ORDER BY u.n"};

const Statement kGetCursor{
    "fwd_get_cursor",
    "SELECT txid::text, last_id, attempts, iot_ms(failing_since) FROM forward_cursors WHERE rule_id = $1"};
// Packs (024_outbox_packs.sql): one row holds the messages id .. id + n - 1. The rows after the cursor:
// those whose last message is after it; the first condition bounds the index scan (n <= 1024).
#define IOT_OUTBOX_AFTER(o, cursor_txid, cursor_id)                                             \
  "(" o "txid, " o "id) > (" cursor_txid ", " cursor_id " - 1024) AND (" o "txid, " o "id + " o \
  "n - 1) > (" cursor_txid ", " cursor_id ")"
// One row a pack per rule: its messages in the order written (per device in order).
const Statement kWritePack{
    "fwd_write_pack",
    "INSERT INTO forward_outbox (slot, rule_ids, n, kind, topic, device_id, product_key, device_name, "
    "iot_id, "
    "payload) "
    "VALUES ((SELECT slot FROM forward_outbox_state), ARRAY[$1::bigint], $2, 'pack', NULL, 0, '', '', '', "
    "$3)"};
const Statement kReadOutbox{
    "fwd_read_outbox",
    "SELECT id, txid::text, kind, topic, device_id, product_key, device_name, iot_id, "
    "CASE WHEN message_id = '' THEN id::text ELSE message_id END, payload, iot_ms(created_at), n "
    "FROM forward_outbox WHERE " IOT_OUTBOX_AFTER("", "$2::text::xid8", "$3::bigint")
    " AND txid < pg_snapshot_xmin(pg_current_snapshot()) AND $1::bigint = ANY(rule_ids) "
    // Qualified: an unqualified `txid` here would name the output column `txid::text` and sort as text
    // ("10" before "9"), taking rows out of order and moving the cursor past rows not yet read.
    "ORDER BY forward_outbox.txid, forward_outbox.id LIMIT $4"};
#define IOT_FWD_LEASE_HELD                                                                             \
  "EXISTS (SELECT 1 FROM leases WHERE name = 'forward-rule-' || $1::bigint::text AND holder = $2 AND " \
  "expires_at > iot_now_ms())"
const Statement kAdvance{
    "fwd_advance",
    "UPDATE forward_cursors SET txid = $3::text::xid8, last_id = $4, delivered = delivered + $5, "
    "attempts = 0, failing_since = NULL, last_error = '', last_delivered_at = iot_now_ms() "
    "WHERE rule_id = $1::bigint AND (txid, last_id) < ($3::text::xid8, $4::bigint) AND " IOT_FWD_LEASE_HELD
    " RETURNING 1"};
const Statement kFailure{"fwd_failure",
                         "UPDATE forward_cursors SET failed = failed + 1, attempts = attempts + 1, "
                         "failing_since = coalesce(failing_since, iot_now_ms()), last_error = $3 "
                         "WHERE rule_id = $1::bigint AND " IOT_FWD_LEASE_HELD
                         " RETURNING txid::text, last_id, attempts, iot_ms(failing_since)"};
const Statement kDeadAdvance{
    "fwd_dead_advance",
    "UPDATE forward_cursors SET txid = $3::text::xid8, last_id = $4, dead = dead + $5, "
    "attempts = 0, failing_since = NULL, last_error = $6 "
    "WHERE rule_id = $1::bigint AND (txid, last_id) < ($3::text::xid8, $4::bigint) AND " IOT_FWD_LEASE_HELD
    " RETURNING 1"};
// From the rows as the forwarder read them (the outbox has no index on id alone).
const Statement kDeadInsert{
    "fwd_dead_insert",
    "INSERT INTO forward_dead_letters (rule_id, outbox_id, kind, topic, device_id, product_key, device_name, "
    "iot_id, message_id, payload, created_at, attempts, error) "
    "SELECT $1, u.id, u.k, u.t, u.dev, u.pk, u.dn, u.iot, u.mid, u.p::jsonb, iot_ts(u.at), $2, $3 "
    "FROM unnest($4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], "
    "$11::text[], $12::text[], $13::bigint[]) WITH ORDINALITY AS u(id, k, t, dev, pk, dn, iot, mid, p, at, "
    "n) "
    "ORDER BY u.n"};
// Rotates the outbox's slots and empties the slots every rule has taken (022_outbox_slots.sql).
const Statement kMaintain{"fwd_maintain", "SELECT iot_outbox_maintain($1, $2)"};
const Statement kStatus{
    "fwd_status",
    "SELECT c.delivered, c.failed, c.dead, c.attempts, c.last_error, iot_ms(c.last_delivered_at), "
    "iot_ms(c.failing_since), "
    // Messages, up to $2 (of as many rows): a pack's whole, or what the cursor left of it.
    "(SELECT least(coalesce(sum(CASE WHEN (x.txid, x.id) > (c.txid, c.last_id) THEN x.n "
    " ELSE x.id + x.n - 1 - c.last_id END), 0), $2::bigint)::bigint FROM (SELECT o.txid, o.id, o.n FROM forward_outbox o "
    " WHERE " IOT_OUTBOX_AFTER("o.", "c.txid", "c.last_id") " AND c.rule_id = ANY(o.rule_ids) LIMIT $2) x), "
    "coalesce((SELECT extract(epoch FROM iot_now_ms() - o.created_at)::float8 FROM forward_outbox o "
    " WHERE " IOT_OUTBOX_AFTER("o.", "c.txid", "c.last_id") " AND c.rule_id = ANY(o.rule_ids) "
    " ORDER BY o.txid, o.id LIMIT 1), 0), "
    "(SELECT count(*) FROM forward_dead_letters d WHERE d.rule_id = c.rule_id) "
    "FROM forward_cursors c WHERE c.rule_id = $1"};
const Statement kListDead{
    "fwd_list_dead",
    "SELECT id, outbox_id, kind, topic, product_key, device_name, iot_id, message_id, payload::text, "
    "iot_ms(created_at), attempts, error, iot_ms(dead_at) FROM forward_dead_letters "
    "WHERE rule_id = $1 AND id > $2 ORDER BY id LIMIT $3"};
const Statement kReplay{
    "fwd_replay",
    "WITH moved AS (DELETE FROM forward_dead_letters WHERE rule_id = $1 "
    "AND ($2::boolean OR id = ANY(ARRAY(SELECT jsonb_array_elements_text($3::jsonb)::bigint))) RETURNING *) "
    "INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, "
    "message_id, payload) "
    "SELECT ARRAY[rule_id], kind, topic, device_id, product_key, device_name, iot_id, message_id, "
    "payload::text "
    "FROM moved ORDER BY id"};

// For the reads that take the outbox in (txid, id) order from a cursor: walk the slots' (txid, id) indexes
// in order (a merge of index scans), never collect and sort a slot's rows. A just-truncated slot has no
// statistics, and with none the planner may estimate a sort cheap, which costs the whole backlog every read.
void WalkOutboxInOrder(pqxx::transaction_base& tx) {
  tx.exec0("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off");
}

ForwardRule ReadRule(const pqxx::row& row) {
  ForwardRule r;
  r.id = row[0].as<std::int64_t>();
  r.name = row[1].as<std::string>();
  r.enabled = row[2].as<bool>();
  r.product_key = Opt<std::string>(row[3]);
  auto kinds = nlohmann::json::parse(row[4].as<std::string>(), nullptr, false);
  if (kinds.is_array()) {
    for (const auto& k : kinds) {
      if (k.is_string()) {
        r.kinds.push_back(k.get<std::string>());
      }
    }
  }
  r.filter = row[5].as<std::string>();
  r.destinations_json = row[6].as<std::string>();
  r.created_at = row[7].as<std::int64_t>();
  r.updated_at = row[8].as<std::int64_t>();
  r.created_by = row[9].as<std::string>();
  r.include_device_secret = row[10].as<bool>();
  return r;
}

// A pack's text: for each message its kind, topic, device id (decimal), product key, device name,
// iotId and body (with the iotId in it), each field as "<length>:<bytes>". Written and read only here.
constexpr std::size_t kPackMaxMessages = 256;
constexpr std::size_t kPackMaxBytes = 256 * 1024;  // a pack closes once it holds this much

void AppendPackField(std::string& out, std::string_view field) {
  out += std::to_string(field.size());
  out.push_back(':');
  out.append(field);
}

// The body as kWriteOutbox makes it in SQL: the iotId first, then the gateway's members.
std::string BodyWithIotId(std::string_view payload, std::string_view iot_id) {
  std::string body = "{\"iotId\":";
  AppendJsonString(body, iot_id);
  if (payload.size() <= 2) {  // "{}"
    body.push_back('}');
  } else {
    body.push_back(',');
    body.append(payload.substr(1));
  }
  return body;
}

void AppendPacked(std::string& out, std::int64_t device_id, const ForwardMessage& m) {
  AppendPackField(out, m.kind);
  AppendPackField(out, m.topic);
  AppendPackField(out, std::to_string(device_id));
  AppendPackField(out, m.product_key);
  AppendPackField(out, m.device_name);
  AppendPackField(out, m.iot_id);
  AppendPackField(out, BodyWithIotId(m.payload_json, m.iot_id));
}

bool TakePackField(std::string_view& in, std::string_view& field) {
  const auto colon = in.find(':');
  std::size_t length = 0;
  if (colon == std::string_view::npos ||
      std::from_chars(in.data(), in.data() + colon, length).ptr != in.data() + colon) {
    return false;
  }
  in.remove_prefix(colon + 1);
  if (length > in.size()) {
    return false;
  }
  field = in.substr(0, length);
  in.remove_prefix(length);
  return true;
}

bool TakePackedMessage(std::string_view& in, OutboxMessage& m) {
  std::string_view kind, topic, device, pk, dn, iot, body;
  if (!TakePackField(in, kind) || !TakePackField(in, topic) || !TakePackField(in, device) ||
      !TakePackField(in, pk) || !TakePackField(in, dn) || !TakePackField(in, iot) ||
      !TakePackField(in, body) ||
      std::from_chars(device.data(), device.data() + device.size(), m.device_id).ptr !=
          device.data() + device.size()) {
    return false;
  }
  m.kind = kind;
  m.topic = topic;
  m.product_key = pk;
  m.device_name = dn;
  m.iot_id = iot;
  m.payload_json = body;
  return true;
}

// Where a reader stands: the last message it has (txid, id).
struct OutboxPosition {
  std::string txid;
  std::int64_t id = 0;
};

// Appends the row's messages after `after`, up to `limit` in `out` (rows are read after it: only a pack
// of its own transaction can hold messages at or before it). A pack that does not decode (written by
// nothing but this file) fails the read: the rule waits, and its lag shows it.
bool AppendOutboxRow(const pqxx::row& row, const OutboxPosition& after, std::size_t limit,
                     std::vector<OutboxMessage>& out) {
  if (out.size() >= limit) {
    return true;
  }
  OutboxMessage m;
  m.id = row[0].as<std::int64_t>();
  m.txid = row[1].as<std::string>();
  m.kind = row[2].as<std::string>();
  m.created_at = row[10].as<std::int64_t>();
  if (m.kind != "pack") {
    m.topic = row[3].as<std::string>();
    m.device_id = row[4].as<std::int64_t>();
    m.product_key = row[5].as<std::string>();
    m.device_name = row[6].as<std::string>();
    m.iot_id = row[7].as<std::string>();
    m.message_id = row[8].as<std::string>();
    m.payload_json = row[9].as<std::string>();
    out.push_back(std::move(m));
    return true;
  }
  const auto n = row[11].as<std::int64_t>();
  std::string_view rest(row[9].c_str(), row[9].size());
  const bool same_transaction = m.txid == after.txid;
  const std::int64_t first = m.id;
  for (std::int64_t k = 0; k < n && out.size() < limit; ++k) {
    OutboxMessage part;
    if (!TakePackedMessage(rest, part)) {
      return false;
    }
    part.id = first + k;
    if (same_transaction && part.id <= after.id) {
      continue;  // taken already
    }
    part.txid = m.txid;
    part.message_id = std::to_string(part.id);
    part.created_at = m.created_at;
    out.push_back(std::move(part));
  }
  return true;
}

ForwardCursor ReadCursor(const pqxx::row& row) {
  ForwardCursor c;
  c.txid = row[0].as<std::string>();
  c.last_id = row[1].as<std::int64_t>();
  c.attempts = row[2].as<int>();
  c.failing_since = Opt<std::int64_t>(row[3]);
  return c;
}

std::string Int64Array(const std::vector<std::int64_t>& values) {
  TextArray a;
  for (auto v : values) {
    a.Add(v);
  }
  return a.Take();
}

// Each rule's messages, in order, as packs (a message several rules took goes into each rule's).
void WriteOutboxPacks(pqxx::transaction_base& tx, const std::vector<std::int64_t>& device_ids,
                      const std::vector<const ForwardMessage*>& messages) {
  struct Pack {
    std::int64_t count = 0;
    std::string text;
  };
  std::map<std::int64_t, Pack> open;
  auto flush = [&](std::int64_t rule, Pack& pack) {
    if (pack.count > 0) {
      Exec(tx, kWritePack, rule, pack.count, pack.text);
      pack = Pack{};
    }
  };
  for (std::size_t i = 0; i < messages.size(); ++i) {
    for (const auto rule : messages[i]->rule_ids) {
      Pack& pack = open[rule];
      AppendPacked(pack.text, device_ids[i], *messages[i]);
      if (++pack.count == static_cast<std::int64_t>(kPackMaxMessages) || pack.text.size() >= kPackMaxBytes) {
        flush(rule, pack);
      }
    }
  }
  for (auto& [rule, pack] : open) {
    flush(rule, pack);
  }
}

}  // namespace

void WriteOutbox(pqxx::transaction_base& tx, const std::vector<std::int64_t>& device_ids,
                 const std::vector<const ForwardMessage*>& messages) {
  if (messages.empty()) {
    return;
  }
  const bool identified = std::all_of(messages.begin(), messages.end(),
                                      [](const ForwardMessage* m) { return !m->iot_id.empty(); });
  if (identified) {
    WriteOutboxPacks(tx, device_ids, messages);
    return;
  }
  TextArray dev, rules, kinds, topics, payloads;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    dev.Add(device_ids[i]);
    rules.Add(Int64Array(messages[i]->rule_ids));
    kinds.Add(messages[i]->kind);
    topics.Add(messages[i]->topic);
    payloads.Add(messages[i]->payload_json);
  }
  Exec(tx, kWriteOutbox, dev.Take(), rules.Take(), kinds.Take(), topics.Take(), payloads.Take());
}

Result<ForwardRule> CreateForwardRule(Db& db, const ForwardRuleCreate& create) {
  return Run(db, [&](pqxx::connection& c) -> Result<ForwardRule> {
    pqxx::work tx(c);
    auto r = Exec(tx, kInsertRule, create.name, create.enabled, create.product_key,
                  nlohmann::json(create.kinds).dump(), create.filter, create.destinations_json,
                  create.created_by, create.include_device_secret);
    ForwardRule rule = ReadRule(r[0]);
    Exec(tx, kInsertCursor, rule.id);
    tx.commit();
    return rule;
  });
}

Result<std::vector<ForwardRule>> ListForwardRules(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ForwardRule>> {
    pqxx::read_transaction tx(c);
    std::vector<ForwardRule> out;
    for (const auto& row : Exec(tx, kListRules)) {
      out.push_back(ReadRule(row));
    }
    return out;
  });
}

Result<ForwardRule> GetForwardRule(Db& db, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ForwardRule> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetRule, id);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadRule(r[0]);
  });
}

Result<ForwardRule> PatchForwardRule(Db& db, std::int64_t id, const ForwardRulePatch& patch) {
  return Run(db, [&](pqxx::connection& c) -> Result<ForwardRule> {
    pqxx::work tx(c);
    auto r = Exec(tx, kPatchRule, id, patch.name, patch.enabled, patch.filter, patch.destinations_json,
                  patch.include_device_secret);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    ForwardRule rule = ReadRule(r[0]);
    tx.commit();
    return rule;
  });
}

Result<void> DeleteForwardRule(Db& db, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    if (Exec(tx, kDeleteRule, id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    tx.commit();
    return {};
  });
}

Result<ForwardCursor> GetForwardCursor(Db& db, std::int64_t rule_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ForwardCursor> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetCursor, rule_id);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadCursor(r[0]);
  });
}

Result<std::vector<OutboxMessage>> ReadOutbox(Db& db, std::int64_t rule_id, const ForwardCursor& cursor,
                                              int limit) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<OutboxMessage>> {
    pqxx::read_transaction tx(c);
    WalkOutboxInOrder(tx);
    const auto wanted = static_cast<std::size_t>(std::max(limit, 1));
    std::vector<OutboxMessage> out;
    OutboxPosition at{cursor.txid, cursor.last_id};
    // A few rows first (packs: enough), then as many as single-message rows could still need.
    std::size_t rows_limit = std::min<std::size_t>(wanted, 16);
    while (out.size() < wanted) {
      auto rows = Exec(tx, kReadOutbox, rule_id, at.txid, at.id, static_cast<std::int64_t>(rows_limit));
      for (const auto& row : rows) {
        if (!AppendOutboxRow(row, at, wanted, out)) {
          return make_error_code(Errc::kInternal);
        }
      }
      if (rows.size() < rows_limit || out.empty()) {
        break;
      }
      const auto& last = rows.back();
      at = OutboxPosition{last[1].as<std::string>(),
                          last[0].as<std::int64_t>() + last[11].as<std::int64_t>() - 1};
      rows_limit = wanted - out.size();
    }
    return out;
  });
}

std::string ForwardLeaseName(std::int64_t rule_id) { return "forward-rule-" + std::to_string(rule_id); }

Result<CursorMove> AdvanceForwardCursor(Db& db, std::int64_t rule_id, std::string_view holder,
                                        const OutboxMessage& last, std::int64_t delivered) {
  return Run(db, [&](pqxx::connection& c) -> Result<CursorMove> {
    pqxx::work tx(c);
    // Not waiting for the flush: a cursor lost in a crash only moves back (the messages go again: at least
    // once), and the prune that deletes what a cursor passed commits durably, flushing this commit with it.
    tx.exec0("SET LOCAL synchronous_commit = off");
    const bool moved = !Exec(tx, kAdvance, rule_id, S(holder), last.txid, last.id, delivered).empty();
    tx.commit();
    return moved ? CursorMove::kMoved : CursorMove::kNotMoved;
  });
}

Result<ForwardCursor> RecordForwardFailure(Db& db, std::int64_t rule_id, std::string_view holder,
                                           std::string_view error) {
  return Run(db, [&](pqxx::connection& c) -> Result<ForwardCursor> {
    pqxx::work tx(c);
    auto r = Exec(tx, kFailure, rule_id, S(holder), S(error.substr(0, 1000)));
    if (r.empty()) {
      return make_error_code(Errc::kConflict);
    }
    ForwardCursor cursor = ReadCursor(r[0]);
    tx.commit();
    return cursor;
  });
}

Result<CursorMove> DeadLetterForward(Db& db, std::int64_t rule_id, std::string_view holder,
                                     const std::vector<OutboxMessage>& messages, int attempts,
                                     std::string_view error) {
  if (messages.empty()) {
    return CursorMove::kNotMoved;
  }
  return Run(db, [&](pqxx::connection& c) -> Result<CursorMove> {
    pqxx::work tx(c);
    const OutboxMessage& last = messages.back();
    const std::string text(error.substr(0, 1000));
    if (Exec(tx, kDeadAdvance, rule_id, S(holder), last.txid, last.id,
             static_cast<std::int64_t>(messages.size()), text)
            .empty()) {
      return CursorMove::kNotMoved;  // rolled back
    }
    TextArray ids, kinds, topics, devices, pks, dns, iots, mids, payloads, created;
    for (const auto& m : messages) {
      ids.Add(m.id);
      kinds.Add(m.kind);
      topics.Add(m.topic);
      devices.Add(m.device_id);
      pks.Add(m.product_key);
      dns.Add(m.device_name);
      iots.Add(m.iot_id);
      mids.Add(m.message_id);
      payloads.Add(m.payload_json);
      created.Add(m.created_at);
    }
    Exec(tx, kDeadInsert, rule_id, attempts, text, ids.Take(), kinds.Take(), topics.Take(), devices.Take(),
         pks.Take(), dns.Take(), iots.Take(), mids.Take(), payloads.Take(), created.Take());
    tx.commit();
    return CursorMove::kMoved;
  });
}

Result<std::int64_t> PruneOutbox(Db& db, std::chrono::milliseconds rotate_after, int delete_limit) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    auto r = Exec(tx, kMaintain, static_cast<std::int64_t>(rotate_after.count()), delete_limit);
    tx.commit();
    return r[0][0].as<std::int64_t>();
  });
}

Result<ForwardStatus> GetForwardStatus(Db& db, std::int64_t rule_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ForwardStatus> {
    pqxx::read_transaction tx(c);
    WalkOutboxInOrder(tx);  // the oldest waiting message: the first after the cursor
    auto r = Exec(tx, kStatus, rule_id, kLagCountLimit);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    const auto& row = r[0];
    ForwardStatus s;
    s.delivered = row[0].as<std::int64_t>();
    s.failed = row[1].as<std::int64_t>();
    s.dead = row[2].as<std::int64_t>();
    s.attempts = row[3].as<int>();
    s.last_error = row[4].as<std::string>();
    s.last_delivered_at = Opt<std::int64_t>(row[5]);
    s.failing_since = Opt<std::int64_t>(row[6]);
    s.lag_messages = row[7].as<std::int64_t>();
    s.lag_seconds = row[8].as<double>();
    s.dead_letters = row[9].as<std::int64_t>();
    return s;
  });
}

Result<Page<DeadLetter>> ListDeadLetters(Db& db, std::int64_t rule_id, const PageQuery& page) {
  if (!ValidLimit(page.limit)) {
    return make_error_code(Errc::kInvalid);
  }
  std::int64_t after = 0;
  if (!page.cursor.empty() && !ParseIdCursor(page.cursor, after)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<DeadLetter>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kGetCursor, rule_id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    Page<DeadLetter> out;
    auto rows = Exec(tx, kListDead, rule_id, after, page.limit + 1);
    for (const auto& row : rows) {
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next_cursor = std::to_string(out.items.back().id);
        break;
      }
      DeadLetter d;
      d.id = row[0].as<std::int64_t>();
      d.outbox_id = row[1].as<std::int64_t>();
      d.kind = row[2].as<std::string>();
      d.topic = row[3].as<std::string>();
      d.product_key = row[4].as<std::string>();
      d.device_name = row[5].as<std::string>();
      d.iot_id = row[6].as<std::string>();
      d.message_id = row[7].as<std::string>();
      d.payload_json = row[8].as<std::string>();
      d.created_at = row[9].as<std::int64_t>();
      d.attempts = row[10].as<int>();
      d.error = row[11].as<std::string>();
      d.dead_at = row[12].as<std::int64_t>();
      out.items.push_back(std::move(d));
    }
    return out;
  });
}

Result<std::int64_t> ReplayDeadLetters(Db& db, std::int64_t rule_id,
                                       const std::optional<std::vector<std::int64_t>>& ids) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    if (Exec(tx, kGetCursor, rule_id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kReplay, rule_id, !ids.has_value(),
                  nlohmann::json(ids.value_or(std::vector<std::int64_t>{})).dump());
    tx.commit();
    return static_cast<std::int64_t>(r.affected_rows());
  });
}

}  // namespace iot::store

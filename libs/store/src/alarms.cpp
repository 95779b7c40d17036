#include "iot/store/alarms.hpp"

#include <map>
#include <utility>

#include "alarms_tx.hpp"
#include "connection.hpp"

namespace iot::store {
namespace {

#define IOT_ALARM_RULE_COLUMNS                                                                        \
  "r.id, r.product_key, r.name, r.severity, r.enabled, r.when_expr, r.for_s, r.clear_when, r.event, " \
  "iot_ms(r.created_at), iot_ms(r.updated_at), r.created_by"

// Nothing when the product does not exist (kNotFound, not a foreign-key conflict).
const Statement kInsertRule{
    "alarm_insert_rule",
    "INSERT INTO alarm_rules AS r (product_key, name, severity, enabled, when_expr, for_s, clear_when, "
    "event, created_by) SELECT p.product_key, $2::text, $3::text, $4::boolean, $5::text, $6::integer, "
    "$7::text, $8::text, $9::text FROM products p WHERE p.product_key = $1 "
    "RETURNING " IOT_ALARM_RULE_COLUMNS};
const Statement kListRules{"alarm_list_rules", "SELECT " IOT_ALARM_RULE_COLUMNS
                                               " FROM alarm_rules r WHERE r.product_key = $1 ORDER BY r.id"};
const Statement kListEnabledRules{"alarm_list_enabled_rules",
                                  "SELECT " IOT_ALARM_RULE_COLUMNS
                                  " FROM alarm_rules r WHERE r.enabled ORDER BY r.product_key, r.id"};
const Statement kGetRule{"alarm_get_rule", "SELECT " IOT_ALARM_RULE_COLUMNS
                                           " FROM alarm_rules r WHERE r.product_key = $1 AND r.id = $2"};
const Statement kPatchRule{
    "alarm_patch_rule",
    "UPDATE alarm_rules AS r SET name = coalesce($3, name), severity = coalesce($4, severity), "
    "enabled = coalesce($5, enabled), when_expr = coalesce($6, when_expr), for_s = coalesce($7, for_s), "
    "clear_when = coalesce($8, clear_when), event = coalesce($9, event), updated_at = iot_now_ms() "
    "WHERE r.product_key = $1 AND r.id = $2 RETURNING " IOT_ALARM_RULE_COLUMNS};
const Statement kForgetPending{"alarm_forget_pending", "DELETE FROM alarm_pending WHERE rule_id = $1"};
const Statement kDeleteRule{"alarm_delete_rule",
                            "DELETE FROM alarm_rules WHERE product_key = $1 AND id = $2 RETURNING 1"};

#define IOT_ALARM_COLUMNS                                                                      \
  "a.id, a.rule_id, a.rule_name, d.product_key, d.device_name, a.severity, a.state, a.count, " \
  "iot_ms(a.raised_at), iot_ms(a.acked_at), a.acked_by, iot_ms(a.cleared_at), a.cleared_by, "  \
  "a.last_value::text"

// Open alarms first (state <> 'cleared' sorts as false), newest first; keyset (cleared, -id).
const Statement kListAlarms{
    "alarm_list",
    "SELECT " IOT_ALARM_COLUMNS
    ", (a.state = 'cleared')::int FROM alarms a JOIN devices d ON d.id = a.device_id "
    "WHERE ($1::text IS NULL OR d.product_key = $1) AND ($2::text IS NULL OR d.device_name = $2) "
    "AND ($3::text IS NULL OR a.severity = $3) "
    "AND ($4::text IS NULL OR a.state = $4 OR ($4 = 'open' AND a.state <> 'cleared')) "
    "AND ((a.state = 'cleared')::int, -a.id) > ($5::int, $6::bigint) "
    "ORDER BY (a.state = 'cleared')::int, a.id DESC LIMIT $7"};
const Statement kGetAlarm{"alarm_get", "SELECT " IOT_ALARM_COLUMNS
                                       " FROM alarms a JOIN devices d ON d.id = a.device_id "
                                       "WHERE a.id = $1"};
const Statement kAck{"alarm_ack",
                     "UPDATE alarms SET state = 'acknowledged', acked_at = iot_now_ms(), acked_by = $2, "
                     "updated_at = iot_now_ms() WHERE id = $1 AND state = 'active' RETURNING 1"};
const Statement kClear{"alarm_clear",
                       "UPDATE alarms SET state = 'cleared', cleared_at = iot_now_ms(), cleared_by = $2, "
                       "updated_at = iot_now_ms() WHERE id = $1 AND state <> 'cleared' RETURNING 1"};

// The writer's statements (alarms_tx.hpp). A rule deleted or disabled meanwhile raises nothing.
const Statement kRaise{
    "alarm_raise",
    "INSERT INTO alarms AS a (rule_id, device_id, rule_name, severity, raised_at, last_value, count) "
    "SELECT r.id, $2::bigint, r.name, r.severity, to_timestamp($3::float8 / 1000), $4::jsonb, $5::bigint "
    "FROM alarm_rules r WHERE r.id = $1 AND r.enabled "
    "ON CONFLICT (rule_id, device_id) WHERE state <> 'cleared' DO UPDATE SET count = a.count + "
    "excluded.count, "
    "last_value = excluded.last_value, updated_at = iot_now_ms() RETURNING 1"};
const Statement kRepeat{
    "alarm_repeat",
    "UPDATE alarms SET count = count + $3, last_value = $4::jsonb, updated_at = iot_now_ms() "
    "WHERE rule_id = $1 AND device_id = $2 AND state <> 'cleared' RETURNING 1"};
const Statement kAlarmState{
    "alarm_state",
    "SELECT rule_id, device_id, true FROM alarms WHERE device_id = ANY($1::bigint[]) AND state <> 'cleared' "
    "UNION ALL SELECT rule_id, device_id, false FROM alarm_pending WHERE device_id = ANY($1::bigint[])"};
const Statement kPend{"alarm_pend",
                      "INSERT INTO alarm_pending AS p (rule_id, device_id, since, last_value) "
                      "SELECT r.id, $2::bigint, to_timestamp($3::float8 / 1000), $4::jsonb FROM alarm_rules "
                      "r WHERE r.id = $1 AND r.enabled "
                      "ON CONFLICT (rule_id, device_id) DO UPDATE SET last_value = excluded.last_value "
                      "RETURNING iot_ms(p.since)"};
const Statement kUnpend{"alarm_unpend", "DELETE FROM alarm_pending WHERE rule_id = $1 AND device_id = $2"};
const Statement kClearByCondition{"alarm_clear_condition",
                                  "UPDATE alarms SET state = 'cleared', cleared_at = iot_now_ms(), "
                                  "cleared_by = '', updated_at = iot_now_ms() "
                                  "WHERE rule_id = $1 AND device_id = $2 AND state <> 'cleared'"};

#define IOT_ALARM_DUE                                                                            \
  "FROM alarm_pending p JOIN alarm_rules r ON r.id = p.rule_id WHERE r.enabled AND r.for_s > 0 " \
  "AND p.since + make_interval(secs => r.for_s) <= iot_now_ms()"
// The devices' latest-values rows first, in id order as the batch writers lock them: a post being
// written meanwhile decides first (it may have ended the condition), then the due rows are raised.
const Statement kSweepLock{"alarm_sweep_lock",
                           "SELECT 1 FROM device_latest WHERE device_id IN (SELECT p.device_id " IOT_ALARM_DUE
                           ") ORDER BY device_id FOR UPDATE"};
const Statement kSweep{
    "alarm_sweep",
    "WITH due AS (DELETE FROM alarm_pending q USING (SELECT p.rule_id, p.device_id, r.name, "
    "r.severity " IOT_ALARM_DUE
    ") x WHERE q.rule_id = x.rule_id AND q.device_id = x.device_id "
    "RETURNING q.rule_id, q.device_id, q.last_value, x.name, x.severity) "
    "INSERT INTO alarms AS a (rule_id, device_id, rule_name, severity, raised_at, last_value) "
    "SELECT rule_id, device_id, name, severity, iot_now_ms(), last_value FROM due "
    "ON CONFLICT (rule_id, device_id) WHERE state <> 'cleared' DO UPDATE SET count = a.count + 1, "
    "last_value = excluded.last_value, updated_at = iot_now_ms()"};

AlarmRule ReadRule(const pqxx::row& row) {
  AlarmRule r;
  r.id = row[0].as<std::int64_t>();
  r.product_key = row[1].as<std::string>();
  r.name = row[2].as<std::string>();
  r.severity = row[3].as<std::string>();
  r.enabled = row[4].as<bool>();
  r.when = row[5].as<std::string>();
  r.for_s = row[6].as<int>();
  r.clear_when = row[7].as<std::string>();
  r.event = row[8].as<std::string>();
  r.created_at = row[9].as<std::int64_t>();
  r.updated_at = row[10].as<std::int64_t>();
  r.created_by = row[11].as<std::string>();
  return r;
}

Alarm ReadAlarm(const pqxx::row& row) {
  Alarm a;
  a.id = row[0].as<std::int64_t>();
  a.rule_id = row[1].as<std::int64_t>();
  a.rule = row[2].as<std::string>();
  a.product_key = row[3].as<std::string>();
  a.device_name = row[4].as<std::string>();
  a.severity = row[5].as<std::string>();
  a.state = row[6].as<std::string>();
  a.count = row[7].as<std::int64_t>();
  a.raised_at = row[8].as<std::int64_t>();
  a.acked_at = Opt<std::int64_t>(row[9]);
  a.acked_by = Opt<std::string>(row[10]);
  a.cleared_at = Opt<std::int64_t>(row[11]);
  a.cleared_by = Opt<std::string>(row[12]);
  a.last_value_json = row[13].as<std::string>();
  return a;
}

// "<cleared 0|1>:<id>" of the last row of a page.
bool ParseAlarmCursor(const std::string& text, int& cleared, std::int64_t& id) {
  TimeMs rank = 0;
  if (!ParseCursor(text, rank, id) || (rank != 0 && rank != 1)) {
    return false;
  }
  cleared = static_cast<int>(rank);
  return true;
}

}  // namespace

Result<AlarmRule> CreateAlarmRule(Db& db, const AlarmRule& rule) {
  return Run(db, [&](pqxx::connection& c) -> Result<AlarmRule> {
    pqxx::work tx(c);
    auto r = Exec(tx, kInsertRule, rule.product_key, rule.name, rule.severity, rule.enabled, rule.when,
                  rule.for_s, rule.clear_when, rule.event, rule.created_by);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    AlarmRule out = ReadRule(r[0]);
    tx.commit();
    return out;
  });
}

Result<std::vector<AlarmRule>> ListAlarmRules(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<AlarmRule>> {
    pqxx::read_transaction tx(c);
    std::vector<AlarmRule> out;
    for (const auto& row : Exec(tx, kListRules, S(product_key))) {
      out.push_back(ReadRule(row));
    }
    return out;
  });
}

Result<std::vector<AlarmRule>> ListEnabledAlarmRules(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<AlarmRule>> {
    pqxx::read_transaction tx(c);
    std::vector<AlarmRule> out;
    for (const auto& row : Exec(tx, kListEnabledRules)) {
      out.push_back(ReadRule(row));
    }
    return out;
  });
}

Result<AlarmRule> GetAlarmRule(Db& db, std::string_view product_key, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<AlarmRule> {
    pqxx::read_transaction tx(c);
    auto rows = Exec(tx, kGetRule, S(product_key), id);
    if (rows.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadRule(rows[0]);
  });
}

Result<AlarmRule> PatchAlarmRule(Db& db, std::string_view product_key, std::int64_t id,
                                 const AlarmRulePatch& patch) {
  return Run(db, [&](pqxx::connection& c) -> Result<AlarmRule> {
    pqxx::work tx(c);
    auto rows = Exec(tx, kPatchRule, S(product_key), id, patch.name, patch.severity, patch.enabled,
                     patch.when, patch.for_s, patch.clear_when, patch.event);
    if (rows.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    if (patch.when || patch.for_s || patch.clear_when || patch.event || patch.enabled) {
      Exec(tx, kForgetPending, id);
    }
    AlarmRule out = ReadRule(rows[0]);
    tx.commit();
    return out;
  });
}

Result<void> DeleteAlarmRule(Db& db, std::string_view product_key, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    if (Exec(tx, kDeleteRule, S(product_key), id).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    tx.commit();
    return {};
  });
}

Result<Page<Alarm>> ListAlarms(Db& db, const AlarmQuery& query) {
  if (!ValidLimit(query.page.limit)) {
    return make_error_code(Errc::kInvalid);
  }
  int cleared = -1;
  std::int64_t id = 0;
  if (!query.page.cursor.empty() && !ParseAlarmCursor(query.page.cursor, cleared, id)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<Alarm>> {
    pqxx::read_transaction tx(c);
    Page<Alarm> out;
    auto rows = Exec(tx, kListAlarms, query.product_key, query.device_name, query.severity, query.state,
                     cleared, -id, query.page.limit + 1);
    for (const auto& row : rows) {
      if (static_cast<int>(out.items.size()) == query.page.limit) {
        const auto& last = out.items.back();
        out.next_cursor = FormatCursor(last.state == "cleared" ? 1 : 0, last.id);
        break;
      }
      out.items.push_back(ReadAlarm(row));
    }
    return out;
  });
}

Result<Alarm> GetAlarm(Db& db, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<Alarm> {
    pqxx::read_transaction tx(c);
    auto rows = Exec(tx, kGetAlarm, id);
    if (rows.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadAlarm(rows[0]);
  });
}

Result<Alarm> AckAlarm(Db& db, std::int64_t id, std::string_view by) {
  return Run(db, [&](pqxx::connection& c) -> Result<Alarm> {
    pqxx::work tx(c);
    const bool changed = !Exec(tx, kAck, id, S(by)).empty();
    auto rows = Exec(tx, kGetAlarm, id);
    if (rows.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    Alarm alarm = ReadAlarm(rows[0]);
    if (!changed && alarm.state == "cleared") {
      return make_error_code(Errc::kConflict);
    }
    tx.commit();
    return alarm;
  });
}

Result<Alarm> ClearAlarm(Db& db, std::int64_t id, std::string_view by) {
  return Run(db, [&](pqxx::connection& c) -> Result<Alarm> {
    pqxx::work tx(c);
    const bool changed = !Exec(tx, kClear, id, S(by)).empty();
    auto rows = Exec(tx, kGetAlarm, id);
    if (rows.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    if (!changed) {
      return make_error_code(Errc::kConflict);
    }
    Alarm alarm = ReadAlarm(rows[0]);
    tx.commit();
    return alarm;
  });
}

Result<std::int64_t> SweepPendingAlarms(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    if (Exec(tx, kSweepLock).empty()) {
      // No device row to lock: nothing is due (a pending condition comes from a property post).
      return std::int64_t{0};
    }
    const auto raised = static_cast<std::int64_t>(Exec(tx, kSweep).affected_rows());
    tx.commit();
    return raised;
  });
}

AlarmKnown ReadAlarmState(pqxx::transaction_base& tx, const std::string& device_ids) {
  AlarmKnown known;
  for (const auto& row : Exec(tx, kAlarmState, device_ids)) {
    auto key = std::make_pair(row[0].as<std::int64_t>(), row[1].as<std::int64_t>());
    (row[2].as<bool>() ? known.open : known.pending).insert(key);
  }
  return known;
}

void ApplyAlarmSignals(pqxx::transaction_base& tx, std::int64_t device_id,
                       const std::vector<AlarmSignal>& signals, AlarmKnown& known) {
  using What = AlarmSignal::What;
  // Repeats of open alarms not written yet, per rule: how many, the last value, the last time.
  struct Repeat {
    std::int64_t count = 0;
    std::string value_json;
    TimeMs at = 0;
  };
  std::map<std::int64_t, Repeat> repeats;
  auto raise = [&](std::int64_t rule, TimeMs at, const std::string& value, std::int64_t count) {
    if (!Exec(tx, kRaise, rule, device_id, at, value, count).empty()) {
      known.open.emplace(rule, device_id);
    }
  };
  // Writes a rule's counted repeats; when the alarm was cleared meanwhile (by hand, in iot-api), they
  // raise a new one.
  auto flush = [&](std::int64_t rule) {
    auto it = repeats.find(rule);
    if (it == repeats.end()) {
      return;
    }
    const Repeat r = std::move(it->second);
    repeats.erase(it);
    if (Exec(tx, kRepeat, rule, device_id, r.count, r.value_json).empty()) {
      raise(rule, r.at, r.value_json, r.count);
    }
  };
  auto count_repeat = [&](const AlarmSignal& s) {
    Repeat& r = repeats[s.rule_id];
    ++r.count;
    r.value_json = s.value_json;
    r.at = s.at;
  };
  for (const auto& s : signals) {
    const auto key = std::make_pair(s.rule_id, device_id);
    switch (s.what) {
      case What::kEvent:
      case What::kHolds: {
        if (known.open.count(key) != 0) {
          count_repeat(s);
          break;
        }
        if (s.what == What::kEvent || s.for_s <= 0) {
          raise(s.rule_id, s.at, s.value_json, 1);
          break;
        }
        auto since = Exec(tx, kPend, s.rule_id, device_id, s.at, s.value_json);
        if (since.empty()) {
          break;  // the rule is gone or disabled
        }
        known.pending.insert(key);
        if (s.at - since[0][0].as<std::int64_t>() >= std::int64_t{s.for_s} * 1000) {
          Exec(tx, kUnpend, s.rule_id, device_id);
          known.pending.erase(key);
          raise(s.rule_id, s.at, s.value_json, 1);
        }
        break;
      }
      case What::kReleased:
        if (known.pending.count(key) != 0) {
          Exec(tx, kUnpend, s.rule_id, device_id);
          known.pending.erase(key);
        }
        break;
      case What::kClears:
        if (known.pending.count(key) != 0) {
          Exec(tx, kUnpend, s.rule_id, device_id);
          known.pending.erase(key);
        }
        flush(s.rule_id);
        if (known.open.count(key) != 0) {
          Exec(tx, kClearByCondition, s.rule_id, device_id);
          known.open.erase(key);
        }
        break;
    }
  }
  while (!repeats.empty()) {
    flush(repeats.begin()->first);
  }
}

}  // namespace iot::store

#pragma once

// Alarms (schemas/sql/019_alarms.sql explains the design): rules per product over REST, the alarms
// they raise with their lifecycle (active -> acknowledged -> cleared), what the gateway's batch writer
// applies in its transaction (AlarmProgram, AlarmSignal), and the sweep of "for N s" conditions.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

struct TelemetryMessage;

// NOTIFY channel of alarm_rules changes (payload: the product key).
inline constexpr const char* kChannelAlarmRule = "iot_alarm_rule";

struct AlarmRule {
  std::int64_t id = 0;
  std::string product_key;
  std::string name;
  std::string severity;  // info | minor | major | critical
  bool enabled = true;
  std::string when;        // libs/expr text; "" for an event rule
  int for_s = 0;           // seconds the condition must hold (0: at once)
  std::string clear_when;  // libs/expr text; "" = when `when` no longer holds
  std::string event;       // event identifier or "alert"/"error" (the event's type); "" for a condition
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::string created_by;
};

struct AlarmRulePatch {
  std::optional<std::string> name;
  std::optional<std::string> severity;
  std::optional<bool> enabled;
  std::optional<std::string> when;
  std::optional<int> for_s;
  std::optional<std::string> clear_when;
  std::optional<std::string> event;
};

// kNotFound for an unknown product; kInvalid when the row breaks the table's checks.
Result<AlarmRule> CreateAlarmRule(Db& db, const AlarmRule& rule);
Result<std::vector<AlarmRule>> ListAlarmRules(Db& db, std::string_view product_key);    // by id
Result<std::vector<AlarmRule>> ListEnabledAlarmRules(Db& db);                           // every product
Result<AlarmRule> GetAlarmRule(Db& db, std::string_view product_key, std::int64_t id);  // kNotFound
// A change of the condition (when, forS, clearWhen, event, enabled) forgets the conditions that
// started holding under the old one (alarm_pending); open alarms stay.
Result<AlarmRule> PatchAlarmRule(Db& db, std::string_view product_key, std::int64_t id,
                                 const AlarmRulePatch& patch);
Result<void> DeleteAlarmRule(Db& db, std::string_view product_key, std::int64_t id);  // its alarms too

struct Alarm {
  std::int64_t id = 0;
  std::int64_t rule_id = 0;
  std::string rule;
  std::string product_key;
  std::string device_name;
  std::string severity;
  std::string state;  // active | acknowledged | cleared
  std::int64_t count = 0;
  TimeMs raised_at = 0;
  std::optional<TimeMs> acked_at;
  std::optional<std::string> acked_by;
  std::optional<TimeMs> cleared_at;
  std::optional<std::string> cleared_by;  // "" when cleared by its condition
  std::string last_value_json;
};

struct AlarmQuery {
  std::optional<std::string> product_key;
  std::optional<std::string> device_name;
  std::optional<std::string> severity;
  std::optional<std::string> state;
  PageQuery page;
};
// Open alarms (active, acknowledged) first, then cleared ones, each newest first.
Result<Page<Alarm>> ListAlarms(Db& db, const AlarmQuery& query);
Result<Alarm> GetAlarm(Db& db, std::int64_t id);  // kNotFound
// Operator actions. Ack: active -> acknowledged (kConflict when cleared; an acknowledged one is
// answered as it is). Clear: active/acknowledged -> cleared (kConflict when cleared already).
Result<Alarm> AckAlarm(Db& db, std::int64_t id, std::string_view by);
Result<Alarm> ClearAlarm(Db& db, std::int64_t id, std::string_view by);
// Open (not cleared) alarms per device of a product: {device name, count, highest severity}.
struct OpenAlarmCount {
  std::string device_name;
  std::int64_t count = 0;
  std::string severity;
};
Result<std::vector<OpenAlarmCount>> CountOpenAlarms(Db& db, std::string_view product_key,
                                                    std::optional<std::string_view> device_name);

// What evaluating a product's rules on a message said, applied by the batch writer in its transaction.
struct AlarmSignal {
  enum class What {
    kHolds,     // the condition holds (raise at once, or after for_s; a repeat counts)
    kReleased,  // it does not hold, nor does the clear condition (a pending "for N s" is forgotten)
    kClears,    // the clear condition holds: the open alarm is cleared
    kEvent,     // a matching event: raise, or count a repeat
  };
  What what = What::kHolds;
  std::int64_t rule_id = 0;
  int for_s = 0;
  std::string value_json = "{}";  // lastValue: the values the condition read, or the event's output
  TimeMs at = 0;                  // server time of the message
};

// A product's alarm rules, compiled (iot-gateway implements it with libs/expr). The batch writer calls
// it for the new messages of one device, in order, with the device's stored latest values before them
// ({"<identifier>": [<value>, <device time ms>, <received ms>], ...} or "{}"), and applies the signals
// in order. Must be thread-safe (immutable).
class AlarmProgram {
 public:
  virtual ~AlarmProgram() = default;
  virtual void Evaluate(std::string_view stored_latest_json,
                        std::span<const TelemetryMessage* const> messages, std::int64_t device_id,
                        std::vector<AlarmSignal>& out) const = 0;
};

// Raises the alarms whose "for N s" condition has held long enough (no post needed); how many.
Result<std::int64_t> SweepPendingAlarms(Db& db);

}  // namespace iot::store

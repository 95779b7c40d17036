#pragma once

// Forwarding rules and their outbox (schemas/sql/017_forwarding.sql explains the design): rules over
// REST, the outbox rows the gateway writes in its batch transactions, and what the forwarder needs to
// read them in order, deliver, move a rule's cursor, give up on messages (dead letters) and prune.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// NOTIFY channel of forward_rules changes (payload: the rule id).
inline constexpr const char* kChannelForwardRule = "iot_forward_rule";

struct ForwardRule {
  std::int64_t id = 0;
  std::string name;
  bool enabled = true;
  std::optional<std::string> product_key;  // none: every product
  std::vector<std::string> kinds;          // property | event | history | status | ...
  std::string filter;                      // libs/expr text; "" = every message
  std::string destinations_json;           // JSON array, secrets included
  bool include_device_secret = false;      // lifecycle create messages carry the deviceSecret
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::string created_by;
};

struct ForwardRuleCreate {
  std::string name;
  bool enabled = true;
  std::optional<std::string> product_key;
  std::vector<std::string> kinds;
  std::string filter;
  std::string destinations_json;
  bool include_device_secret = false;
  std::string created_by;
};

struct ForwardRulePatch {
  std::optional<std::string> name;
  std::optional<bool> enabled;
  std::optional<std::string> filter;
  std::optional<std::string> destinations_json;
  std::optional<bool> include_device_secret;
};

// The rule and its cursor (at the current end of the outbox) in one transaction.
Result<ForwardRule> CreateForwardRule(Db& db, const ForwardRuleCreate& create);
Result<std::vector<ForwardRule>> ListForwardRules(Db& db);    // every rule, by id
Result<ForwardRule> GetForwardRule(Db& db, std::int64_t id);  // kNotFound
Result<ForwardRule> PatchForwardRule(Db& db, std::int64_t id, const ForwardRulePatch& patch);
Result<void> DeleteForwardRule(Db& db, std::int64_t id);  // its cursor and dead letters too

// A message for the outbox, built by the gateway; written by the telemetry writer (TelemetryMessage's
// `forward`) and the lifecycle writer (LifecycleEvent's) in their transactions, only when what it
// describes is stored. The store adds the device's iotId to the payload and the outbox row.
//
// The device's identity: when every message of a write carries it (the gateway's telemetry does), the
// write packs each rule's messages into few rows (024_outbox_packs.sql), else it writes a row a message
// and reads the identity from the devices table.
struct ForwardMessage {
  std::vector<std::int64_t> rule_ids;  // the enabled rules that matched it
  std::string kind;                    // property | event | history | status
  std::string topic;                   // the forwarded topic
  std::string payload_json;            // a JSON object as serialized: "{...}", no leading space
  std::string product_key{};           // the device's identity, or all three empty
  std::string device_name{};
  std::string iot_id{};
};

// A message of the outbox as the forwarder reads it (a row, or one message of a pack).
struct OutboxMessage {
  std::int64_t id = 0;  // the message's own number (a pack's messages: its row id + 0, 1, ...)
  std::string txid;     // xid8 as text
  std::string kind;
  std::string topic;
  std::int64_t device_id = 0;
  std::string product_key;
  std::string device_name;
  std::string iot_id;
  std::string message_id;  // stable across redeliveries and replays
  std::string payload_json;
  TimeMs created_at = 0;
};

struct ForwardCursor {
  std::string txid = "0";
  std::int64_t last_id = 0;
  int attempts = 0;                     // failed attempts of the batch at the cursor
  std::optional<TimeMs> failing_since;  // first failure of that batch
};

Result<ForwardCursor> GetForwardCursor(Db& db, std::int64_t rule_id);  // kNotFound: no such rule
// Up to `limit` messages of the rule after `cursor`, in (txid, id) order, only from transactions that
// have ended (017_forwarding.sql: the outbox trap).
Result<std::vector<OutboxMessage>> ReadOutbox(Db& db, std::int64_t rule_id, const ForwardCursor& cursor,
                                              int limit);

// A lease per rule (the leases table): only its holder moves the rule's cursor.
std::string ForwardLeaseName(std::int64_t rule_id);

// What a cursor move did: kMoved, or kNotMoved when `holder` no longer holds the rule's lease or the
// cursor is past the messages already (another holder took them).
enum class CursorMove { kMoved, kNotMoved };

// Moves the cursor past `last` after delivering `delivered` messages.
Result<CursorMove> AdvanceForwardCursor(Db& db, std::int64_t rule_id, std::string_view holder,
                                        const OutboxMessage& last, std::int64_t delivered);
// Counts a failed attempt of the batch at the cursor; the cursor as it is now (attempts, failing
// since). kConflict when `holder` no longer holds the lease.
Result<ForwardCursor> RecordForwardFailure(Db& db, std::int64_t rule_id, std::string_view holder,
                                           std::string_view error);
// Moves `messages` (the batch at the cursor) to the rule's dead letters and the cursor past them, in
// one transaction (nothing when the cursor does not move).
Result<CursorMove> DeadLetterForward(Db& db, std::int64_t rule_id, std::string_view holder,
                                     const std::vector<OutboxMessage>& messages, int attempts,
                                     std::string_view error);
// Outbox upkeep (022_outbox_slots.sql): makes the next slot current when the current one is at least
// `rotate_after` old and the next one is empty; empties (TRUNCATE) each other slot whose rows every rule has
// taken, or deletes up to `delete_limit` of those rows there when some are still waiting. How many rows
// went. Several forwarders may run it at once.
Result<std::int64_t> PruneOutbox(Db& db, std::chrono::milliseconds rotate_after, int delete_limit);

struct ForwardStatus {
  std::int64_t delivered = 0;
  std::int64_t failed = 0;        // failed attempts
  std::int64_t dead = 0;          // messages moved to dead letters
  std::int64_t dead_letters = 0;  // dead letters waiting (not replayed)
  int attempts = 0;
  std::string last_error;
  std::optional<TimeMs> last_delivered_at;
  std::optional<TimeMs> failing_since;
  std::int64_t lag_messages = 0;  // messages after the cursor (counted up to kLagCountLimit)
  double lag_seconds = 0;         // age of the oldest of them (0 when none)
};
inline constexpr std::int64_t kLagCountLimit = 1000000;
Result<ForwardStatus> GetForwardStatus(Db& db, std::int64_t rule_id);  // kNotFound

struct DeadLetter {
  std::int64_t id = 0;
  std::int64_t outbox_id = 0;
  std::string kind;
  std::string topic;
  std::string product_key;
  std::string device_name;
  std::string iot_id;
  std::string message_id;
  std::string payload_json;
  TimeMs created_at = 0;
  int attempts = 0;
  std::string error;
  TimeMs dead_at = 0;
};
// Oldest first; cursor: the last id of the previous page. kNotFound for an unknown rule.
Result<Page<DeadLetter>> ListDeadLetters(Db& db, std::int64_t rule_id, const PageQuery& page);
// Puts the rule's dead letters (all, or those of `ids`) back into the outbox for that rule only, in
// their order; how many. kNotFound for an unknown rule.
Result<std::int64_t> ReplayDeadLetters(Db& db, std::int64_t rule_id,
                                       const std::optional<std::vector<std::int64_t>>& ids);

}  // namespace iot::store

#pragma once

// Forwarding, the gateway's side of the outbox (iot/store/forwarding.hpp): the enabled rules kept in
// memory (ForwardRules, reloaded on the iot_forward_rule notification), and the routing of a handled
// message: for each forwarded body it describes (the reference's server-side subscription formats),
// which rules match, attached to the message's telemetry or lifecycle event so the batch writer
// writes the outbox row in the transaction that stores the message.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "iot/alink/topic.hpp"
#include "iot/common/result.hpp"
#include "iot/expr/expr.hpp"
#include "iot/store/db.hpp"
#include "iot/store/forwarding.hpp"
#include "work.hpp"

namespace iot::gateway {

// The message kinds a rule's source names.
// kAlarm, kOta and kLifecycle: alarm changes, OTA results and device lifecycle, written to the outbox by
// the database (triggers of 019_alarms.sql, 020_ota_forwarding.sql, 021_lifecycle_forwarding.sql), never
// routed here.
enum class ForwardKind { kProperty, kEvent, kHistory, kStatus, kReply, kMessage, kAlarm, kOta, kLifecycle };
std::optional<ForwardKind> ParseForwardKind(std::string_view name);
const char* ForwardKindName(ForwardKind kind);

// An enabled rule as routing needs it.
struct RouteRule {
  std::int64_t id = 0;
  std::optional<std::string> product_key;  // none: every product
  unsigned kinds = 0;                      // bit (1 << ForwardKind)
  std::optional<expr::Expression> filter;  // none: every message
  bool Wants(ForwardKind kind) const { return (kinds & (1U << static_cast<unsigned>(kind))) != 0; }
};

// A rule from the store, compiled; nullopt (and `error`) when its filter does not parse (the API
// refuses such filters, so only a row written by hand gets here) or it names no known kind.
std::optional<RouteRule> CompileRule(const store::ForwardRule& rule, std::string& error);

// The enabled rules. Thread-safe: shard workers read snapshots while the listen thread replaces them.
class ForwardRules {
 public:
  using Snapshot = std::shared_ptr<const std::vector<RouteRule>>;
  // True when at least one enabled rule exists (one atomic load: a platform without rules pays this).
  bool Any() const { return any_.load(std::memory_order_acquire); }
  // False until the first Replace/Load: until then the gateway handles no message (a message must not
  // be stored unforwarded because the rules were not known yet).
  bool Loaded() const { return loaded_.load(std::memory_order_acquire); }
  Snapshot Get() const;
  void Replace(std::vector<RouteRule> rules);
  // Loads the enabled rules from the store and replaces the set; errors leave it as it was (an error
  // other than kUnavailable counts as loaded, so that ingest goes on with the rules known so far).
  Result<void> Load(store::Db& db);

 private:
  mutable std::mutex mutex_;
  Snapshot rules_ = std::make_shared<const std::vector<RouteRule>>();
  std::atomic<bool> any_{false};
  std::atomic<bool> loaded_{false};
};

// Adds the forwarded messages of `work` (a handled message on `topic`) that rules of `rules` match:
// property, event, history and batch posts (and raw products' converted posts) to the telemetry,
// lifecycle status to the lifecycle event, device replies to the call they complete (ServiceReplyOp),
// custom-topic messages to their insert (UserMessageOp). `status_payload` is the lifecycle message as
// received.
void Route(const std::vector<RouteRule>& rules, const alink::Topic& topic, const std::string& status_payload,
           Work& work);

}  // namespace iot::gateway

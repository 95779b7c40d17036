#pragma once

// Alarms, the gateway's side (iot/store/alarms.hpp): the enabled alarm rules of every product, compiled
// with libs/expr and kept in memory (reloaded on the iot_alarm_rule notification). The handler attaches
// the product's program to a property or event post; the batch writer evaluates it in the transaction
// that stores the post.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/expr/expr.hpp"
#include "iot/store/alarms.hpp"
#include "iot/store/db.hpp"

namespace iot::gateway {

// One enabled rule, compiled.
struct CompiledAlarmRule {
  std::int64_t id = 0;
  int for_s = 0;
  std::optional<expr::Expression> when;   // a condition rule
  std::optional<expr::Expression> clear;  // none: cleared when `when` no longer holds
  std::vector<std::string> reads;         // identifiers of `when` and `clear`
  std::string event;                      // an event rule: identifier, or "alert"/"error" (the type)
};

// A product's rules as the batch writer evaluates them. Immutable.
class ProductAlarms final : public store::AlarmProgram {
 public:
  explicit ProductAlarms(std::vector<CompiledAlarmRule> rules);
  void Evaluate(std::string_view stored_latest_json, std::span<const store::TelemetryMessage* const> messages,
                std::int64_t device_id, std::vector<store::AlarmSignal>& out) const override;
  std::size_t Size() const { return rules_.size(); }

 private:
  std::vector<CompiledAlarmRule> rules_;
  bool conditions_ = false;
};

// A stored rule, compiled; nullopt (and `error`) when an expression does not parse (the API refuses
// such rules, so only a row written by hand gets here).
std::optional<CompiledAlarmRule> CompileAlarmRule(const store::AlarmRule& rule, std::string& error);

// The enabled rules of every product. Thread-safe: shard workers read while the listen thread reloads.
class AlarmRules {
 public:
  using Program = std::shared_ptr<const ProductAlarms>;
  // One atomic load: a platform without alarm rules pays only this per post.
  bool Any() const { return any_.load(std::memory_order_acquire); }
  // False until the first load (the handlers wait: an alarm must not be missed because the rules were
  // not known yet); an error other than kUnavailable counts as loaded (ingest goes on).
  bool Loaded() const { return loaded_.load(std::memory_order_acquire); }
  // The program of a product, or null when it has no enabled rule.
  Program For(std::string_view product_key) const;
  void Replace(std::map<std::string, Program, std::less<>> programs);
  // Loads every enabled rule; errors leave the set as it was.
  Result<void> Load(store::Db& db);

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Program, std::less<>> programs_;
  std::atomic<bool> any_{false};
  std::atomic<bool> loaded_{false};
};

}  // namespace iot::gateway

#include "alarms.hpp"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/telemetry_writer.hpp"

namespace iot::gateway {
namespace {

using nlohmann::json;

void AddReads(const expr::Expression& e, std::vector<std::string>& reads) {
  for (const auto& id : e.Identifiers()) {
    if (std::find(reads.begin(), reads.end(), id) == reads.end()) {
      reads.push_back(id);
    }
  }
}

}  // namespace

std::optional<CompiledAlarmRule> CompileAlarmRule(const store::AlarmRule& rule, std::string& error) {
  CompiledAlarmRule out;
  out.id = rule.id;
  out.for_s = rule.for_s;
  out.event = rule.event;
  if (!rule.when.empty()) {
    auto parsed = expr::Parse(rule.when);
    if (!parsed.ok()) {
      error = "when: " + parsed.error->Describe();
      return std::nullopt;
    }
    out.when = std::move(parsed.expression);
    AddReads(*out.when, out.reads);
  }
  if (!rule.clear_when.empty()) {
    auto parsed = expr::Parse(rule.clear_when);
    if (!parsed.ok()) {
      error = "clearWhen: " + parsed.error->Describe();
      return std::nullopt;
    }
    out.clear = std::move(parsed.expression);
    AddReads(*out.clear, out.reads);
  }
  if (!out.when && out.event.empty()) {
    error = "neither a condition nor an event";
    return std::nullopt;
  }
  return out;
}

ProductAlarms::ProductAlarms(std::vector<CompiledAlarmRule> rules) : rules_(std::move(rules)) {
  conditions_ = std::any_of(rules_.begin(), rules_.end(), [](const auto& r) { return r.when.has_value(); });
}

// The device's values: the stored latest ones, then each message's properties applied in order (a value
// with an older device time than the one known is not applied, as the writer stores them). A condition
// rule is evaluated on a message that carries one of the identifiers it reads (a post about something
// else says nothing new about it; the sweep raises "for N s" conditions without posts).
void ProductAlarms::Evaluate(std::string_view stored_latest_json,
                             std::span<const store::TelemetryMessage* const> messages,
                             std::int64_t /*device_id*/, std::vector<store::AlarmSignal>& out) const {
  json values = json::object();
  std::map<std::string, store::TimeMs, std::less<>> times;
  if (conditions_) {
    json stored = json::parse(stored_latest_json, nullptr, false);
    if (stored.is_object()) {
      for (auto& [id, entry] : stored.items()) {
        if (entry.is_array() && entry.size() >= 2 && entry[1].is_number_integer()) {
          values[id] = std::move(entry[0]);
          times[id] = entry[1].get<store::TimeMs>();
        }
      }
    }
  }
  for (const store::TelemetryMessage* m : messages) {
    if (conditions_ && !m->properties.empty()) {
      for (const auto& p : m->properties) {
        auto known = times.find(p.identifier);
        if (known != times.end() && known->second > p.time) {
          continue;
        }
        json value = json::parse(p.value_json, nullptr, false);
        if (value.is_discarded()) {
          continue;
        }
        values[p.identifier] = std::move(value);
        times[p.identifier] = p.time;
      }
      for (const auto& rule : rules_) {
        if (!rule.when) {
          continue;
        }
        const bool touched = std::any_of(m->properties.begin(), m->properties.end(), [&](const auto& p) {
          return std::find(rule.reads.begin(), rule.reads.end(), p.identifier) != rule.reads.end();
        });
        if (!touched) {
          continue;
        }
        store::AlarmSignal s;
        s.rule_id = rule.id;
        s.for_s = rule.for_s;
        s.at = m->received_at;
        if (rule.when->Matches(values)) {
          s.what = store::AlarmSignal::What::kHolds;
          json read = json::object();
          for (const auto& id : rule.when->Identifiers()) {
            auto it = values.find(id);
            if (it != values.end()) {
              read[id] = *it;
            }
          }
          s.value_json = read.dump();
        } else {
          const bool clears = rule.clear ? rule.clear->Matches(values) : true;
          s.what = clears ? store::AlarmSignal::What::kClears : store::AlarmSignal::What::kReleased;
        }
        out.push_back(std::move(s));
      }
    }
    for (const auto& e : m->events) {
      for (const auto& rule : rules_) {
        if (rule.event.empty() || (rule.event != e.identifier && rule.event != e.type)) {
          continue;
        }
        store::AlarmSignal s;
        s.what = store::AlarmSignal::What::kEvent;
        s.rule_id = rule.id;
        s.at = m->received_at;
        json output = json::parse(e.output_json.empty() ? std::string("{}") : e.output_json, nullptr, false);
        s.value_json = json{{"event", e.identifier},
                            {"type", e.type},
                            {"output", output.is_discarded() ? json::object() : output}}
                           .dump();
        out.push_back(std::move(s));
      }
    }
  }
}

AlarmRules::Program AlarmRules::For(std::string_view product_key) const {
  std::lock_guard lock(mutex_);
  auto it = programs_.find(product_key);
  return it == programs_.end() ? nullptr : it->second;
}

void AlarmRules::Replace(std::map<std::string, Program, std::less<>> programs) {
  std::lock_guard lock(mutex_);
  any_.store(!programs.empty(), std::memory_order_release);
  programs_ = std::move(programs);
  loaded_.store(true, std::memory_order_release);
}

Result<void> AlarmRules::Load(store::Db& db) {
  auto rules = store::ListEnabledAlarmRules(db);
  if (!rules) {
    if (!store::Is(rules.error(), store::Errc::kUnavailable)) {
      loaded_.store(true, std::memory_order_release);
    }
    return rules.error();
  }
  std::map<std::string, std::vector<CompiledAlarmRule>, std::less<>> of_product;
  for (const auto& rule : *rules) {
    std::string error;
    if (auto compiled = CompileAlarmRule(rule, error)) {
      of_product[rule.product_key].push_back(std::move(*compiled));
    } else {
      IOT_LOG_WARN("gateway",
                   "msg=\"alarm rule ignored\" rule=" << rule.id << " error=" << log::Quote(error));
    }
  }
  std::map<std::string, Program, std::less<>> programs;
  for (auto& [product, compiled] : of_product) {
    programs.emplace(product, std::make_shared<const ProductAlarms>(std::move(compiled)));
  }
  Replace(std::move(programs));
  return {};
}

}  // namespace iot::gateway

#include "script_cache.hpp"

#include <time.h>

#include <algorithm>

#include <nlohmann/json.hpp>

namespace iot::gateway {
namespace {

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

class SourceEncoder final : public ReplyEncoder {
 public:
  SourceEncoder(std::shared_ptr<const std::string> source, script::Limits limits)
      : source_(std::move(source)), limits_(limits) {}
  std::optional<std::string> Encode(const std::string& alink_reply) const override {
    nlohmann::json message = nlohmann::json::parse(alink_reply, nullptr, false);
    if (message.is_discarded()) {
      return std::nullopt;
    }
    auto compiled = script::Script::Compile(*source_, limits_);
    if (!compiled) {
      return std::nullopt;
    }
    auto bytes = (*compiled)->ProtocolToRawData(message);
    if (!bytes) {
      return std::nullopt;
    }
    return std::move(*bytes);
  }

 private:
  std::shared_ptr<const std::string> source_;
  script::Limits limits_;
};

}  // namespace

ScriptCache::ScriptCache(script::Limits limits, int budget_ms_per_second, std::size_t max_products)
    : limits_(limits), budget_ms_(budget_ms_per_second), max_products_(max_products) {}

ScriptCache::Slot* ScriptCache::Get(const ProductEntry& product, std::int64_t now_ms) {
  if (!product.script) {
    slots_.erase(product.product_key);
    return nullptr;
  }
  auto it = slots_.find(product.product_key);
  if (it == slots_.end()) {
    if (slots_.size() >= max_products_) {
      slots_.erase(slots_.begin());
    }
    it = slots_.emplace(product.product_key, Slot{}).first;
    it->second.budget_ms = budget_ms_;
    it->second.refilled_ms = now_ms;
  }
  Slot& slot = it->second;
  if (slot.source != product.script) {
    // A reloaded product entry: recompile only when the text changed (a TTL reload keeps it).
    if (!slot.source || *slot.source != *product.script) {
      slot.script.reset();
      slot.compile_error.reset();
      const double started = ThreadCpuMs();
      auto compiled = script::Script::Compile(*product.script, limits_);
      slot.budget_ms -= ThreadCpuMs() - started;
      if (compiled) {
        slot.script = std::move(*compiled);
      } else {
        slot.compile_error = compiled.error();
      }
    }
    slot.source = product.script;
  }
  return &slot;
}

template <class T, class F>
script::Outcome<T> ScriptCache::Run(const ProductEntry& product, std::int64_t now_ms, F call) {
  Slot* slot = Get(product, now_ms);
  if (!slot) {
    return script::Error{script::kNoScript, "the product has no parsing script", 0};
  }
  if (budget_ms_ > 0) {
    const double elapsed_s = static_cast<double>(std::max<std::int64_t>(0, now_ms - slot->refilled_ms)) / 1e3;
    slot->budget_ms = std::min(budget_ms_, slot->budget_ms + elapsed_s * budget_ms_);
    slot->refilled_ms = now_ms;
    if (slot->budget_ms <= 0) {
      return script::Error{script::kRateLimited,
                           "the product's script used its CPU budget (" +
                               std::to_string(static_cast<int>(budget_ms_)) + " ms per second)",
                           0};
    }
  }
  if (slot->compile_error) {
    return *slot->compile_error;
  }
  const double started = ThreadCpuMs();
  script::Outcome<T> out = call(*slot->script);
  if (budget_ms_ > 0) {
    slot->budget_ms -= ThreadCpuMs() - started;
  }
  return out;
}

script::Outcome<nlohmann::json> ScriptCache::ToProtocol(const ProductEntry& product, std::string_view bytes,
                                                        std::int64_t now_ms) {
  return Run<nlohmann::json>(product, now_ms, [&](script::Script& s) { return s.RawDataToProtocol(bytes); });
}

script::Outcome<std::string> ScriptCache::ToRaw(const ProductEntry& product, const nlohmann::json& message,
                                                std::int64_t now_ms) {
  return Run<std::string>(product, now_ms, [&](script::Script& s) { return s.ProtocolToRawData(message); });
}

std::shared_ptr<const ReplyEncoder> ScriptCache::Encoder(const ProductEntry& product) const {
  if (!product.script) {
    return nullptr;
  }
  return std::make_shared<SourceEncoder>(product.script, limits_);
}

}  // namespace iot::gateway

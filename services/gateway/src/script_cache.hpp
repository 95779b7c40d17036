#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json_fwd.hpp>

#include "directory.hpp"
#include "iot/script/script.hpp"
#include "work.hpp"

// Raw products' parsing scripts as one shard worker runs them: compiled once per product and again
// whenever the product's script changes (the directory reloads the product on its NOTIFY), each call
// under the script limits, and each product's scripts under a CPU budget per second (26010 when it is
// spent) so that one product's runaway script cannot take a worker from everyone else.
// One per shard worker; not thread-safe.
namespace iot::gateway {

class ScriptCache {
 public:
  ScriptCache(script::Limits limits, int budget_ms_per_second, std::size_t max_products = 1024);

  // The product's rawDataToProtocol / protocolToRawData. 6200 when the product has no script, the
  // compile error when it does not compile, 26010 when its budget is spent, else the call's outcome.
  script::Outcome<nlohmann::json> ToProtocol(const ProductEntry& product, std::string_view bytes,
                                             std::int64_t now_ms);
  script::Outcome<std::string> ToRaw(const ProductEntry& product, const nlohmann::json& message,
                                     std::int64_t now_ms);
  // Re-encodes replies of this product on the writer thread (compiles its own copy per call).
  std::shared_ptr<const ReplyEncoder> Encoder(const ProductEntry& product) const;

  std::size_t Size() const { return slots_.size(); }

 private:
  struct Slot {
    std::shared_ptr<const std::string> source;
    std::unique_ptr<script::Script> script;
    std::optional<script::Error> compile_error;
    double budget_ms = 0;
    std::int64_t refilled_ms = 0;
  };
  // The product's slot, (re)compiled when its script changed; null when the product has no script.
  Slot* Get(const ProductEntry& product, std::int64_t now_ms);
  template <class T, class F>
  script::Outcome<T> Run(const ProductEntry& product, std::int64_t now_ms, F call);

  script::Limits limits_;
  double budget_ms_;
  std::size_t max_products_;
  std::unordered_map<std::string, Slot> slots_;
};

}  // namespace iot::gateway

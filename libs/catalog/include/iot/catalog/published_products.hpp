#pragma once

// A product's published thing model and validation mode, kept current by notification: the one owner
// of this concept for the gateway (a lookup per device message) and the API (commands, device data).
//
// The store has the rows (store::GetPublishedModel), libs/tsl parses them (tsl::ParsePublishedModel);
// this cache holds the parsed result per product, shares it as an immutable
// std::shared_ptr<const PublishedProduct>, and drops it when the store's triggers notify a change of
// the product or a publish (Channels(), Apply()). A time to live is the safety net behind the
// notifications.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/listener.hpp"
#include "iot/store/product_config.hpp"
#include "iot/store/types.hpp"
#include "iot/tsl/thing_model.hpp"
#include "iot/tsl/validator.hpp"

namespace iot::catalog {

// The store's validation mode as the validator spells it.
tsl::Mode ToTslMode(store::ValidationMode mode);

// Immutable once shared.
struct PublishedProduct {
  std::string product_key;
  tsl::Mode mode = tsl::Mode::kWeak;
  std::optional<int> version;                    // absent: nothing published
  std::string tsl_json;                          // the published TSL ("" without a version)
  std::shared_ptr<const tsl::ThingModel> model;  // null without a version or when unparsable
  std::string model_error;                       // why `model` is null although there is a version
  bool raw = false;                              // dataFormat "raw": devices send bytes
  std::shared_ptr<const std::string> script;     // raw products: the parsing script (null: none)
  std::int64_t script_updated_at = 0;
  bool remote_config = false;                      // the product's remote configuration switch
  std::optional<store::ProductConfigInfo> config;  // its current configuration file, if any
};

// The product as the store has it, not parsed yet (model and model_error empty).
Result<PublishedProduct> LoadFromStore(store::Db& db, std::string_view product_key);

// Parses `product.tsl_json` into `product.model` (or sets model_error) when there is a version.
void ParseModel(PublishedProduct& product);

// LoadFromStore and ParseModel, uncached (for a caller that has no PublishedProducts kept current).
Result<std::shared_ptr<const PublishedProduct>> LoadPublished(store::Db& db, std::string_view product_key);

struct CacheSettings {
  std::size_t max_products = 10000;
  // Safety net behind LISTEN/NOTIFY: entries are reloaded after this long anyway.
  std::chrono::milliseconds ttl{60000};
};

// Thread-safe. A lookup takes one mutex for a hash lookup and a shared_ptr copy; a miss loads outside
// that mutex, one load at a time (the second thread missing the same product finds the first one's
// result), so lookups never wait for the database and a burst of misses loads a product once.
class PublishedProducts final {
 public:
  using Clock = std::function<std::int64_t()>;  // ms, monotonic
  // Loads one product unparsed (LoadFromStore, or a fake in tests); errors are passed through.
  using Loader = std::function<Result<PublishedProduct>(std::string_view product_key)>;

  explicit PublishedProducts(CacheSettings settings = {}, Clock clock = {});

  Result<std::shared_ptr<const PublishedProduct>> Find(std::string_view product_key, const Loader& load);
  // The same, loading from `db` (LoadFromStore).
  Result<std::shared_ptr<const PublishedProduct>> Find(store::Db& db, std::string_view product_key);

  // The channels whose notifications Apply understands: product changes and publishes.
  static std::vector<std::string> Channels();
  // Drops what a notification makes stale: the product named by a product or thing-model
  // notification, everything on a resync. True when it dropped something or could have (the
  // notification was about products).
  bool Apply(const store::Notification& notification);

  void Invalidate(std::string_view product_key);
  void Clear();
  std::size_t Count() const;

 private:
  struct Slot {
    std::shared_ptr<const PublishedProduct> entry;
    std::int64_t loaded_ms = 0;
  };
  std::int64_t Now() const;
  // The cached entry when it is fresh (under mutex_).
  std::shared_ptr<const PublishedProduct> Fresh(std::string_view product_key, std::int64_t now);

  CacheSettings settings_;
  Clock clock_;
  mutable std::mutex mutex_;
  tsl::StringMap<Slot> products_;  // by product key; heterogeneous lookup (no key copy per message)
  std::uint64_t generation_ = 0;   // bumped by every invalidation; a load that raced one is not kept
  std::mutex load_mutex_;          // one load at a time
};

}  // namespace iot::catalog

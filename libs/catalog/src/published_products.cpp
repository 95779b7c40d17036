#include "iot/catalog/published_products.hpp"

#include <utility>

#include "iot/store/thing_models.hpp"
#include "iot/tsl/published.hpp"

namespace iot::catalog {

tsl::Mode ToTslMode(store::ValidationMode mode) {
  switch (mode) {
    case store::ValidationMode::kNone: return tsl::Mode::kNone;
    case store::ValidationMode::kStrict: return tsl::Mode::kStrict;
    case store::ValidationMode::kWeak: break;
  }
  return tsl::Mode::kWeak;
}

Result<PublishedProduct> LoadFromStore(store::Db& db, std::string_view product_key) {
  auto published = store::GetPublishedModel(db, product_key);
  if (!published) {
    return published.error();
  }
  PublishedProduct product;
  product.product_key = std::move(published->product_key);
  product.mode = ToTslMode(published->validation);
  product.version = published->version;
  product.tsl_json = std::move(published->tsl_json);
  product.raw = published->data_format == store::DataFormat::kRaw;
  if (published->script) {
    product.script = std::make_shared<const std::string>(std::move(*published->script));
  }
  product.script_updated_at = published->script_updated_at;
  product.remote_config = published->remote_config;
  product.config = std::move(published->config);
  return product;
}

void ParseModel(PublishedProduct& product) {
  product.model = nullptr;
  product.model_error.clear();
  if (!product.version) {
    return;
  }
  product.model = tsl::ParsePublishedModel(product.tsl_json, &product.model_error);
}

Result<std::shared_ptr<const PublishedProduct>> LoadPublished(store::Db& db, std::string_view product_key) {
  auto loaded = LoadFromStore(db, product_key);
  if (!loaded) {
    return loaded.error();
  }
  ParseModel(*loaded);
  return std::make_shared<const PublishedProduct>(std::move(*loaded));
}

PublishedProducts::PublishedProducts(CacheSettings settings, Clock clock)
    : settings_(settings), clock_(std::move(clock)) {}

std::int64_t PublishedProducts::Now() const {
  if (clock_) {
    return clock_();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<const PublishedProduct> PublishedProducts::Fresh(std::string_view product_key,
                                                                 std::int64_t now) {
  auto it = products_.find(product_key);
  if (it == products_.end()) {
    return nullptr;
  }
  if (now - it->second.loaded_ms < settings_.ttl.count()) {
    return it->second.entry;
  }
  products_.erase(it);
  return nullptr;
}

Result<std::shared_ptr<const PublishedProduct>> PublishedProducts::Find(std::string_view product_key,
                                                                        const Loader& load) {
  const std::int64_t now = Now();
  {
    std::lock_guard lock(mutex_);
    if (auto entry = Fresh(product_key, now)) {
      return entry;
    }
  }
  std::lock_guard load_lock(load_mutex_);
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    if (auto entry = Fresh(product_key, now)) {
      return entry;  // loaded while this thread waited
    }
    generation = generation_;
  }
  Result<PublishedProduct> loaded = load(product_key);
  if (!loaded) {
    return loaded.error();
  }
  auto entry = std::make_shared<PublishedProduct>(std::move(*loaded));
  ParseModel(*entry);  // outside mutex_: lookups of other products go on meanwhile
  std::shared_ptr<const PublishedProduct> shared = std::move(entry);
  std::lock_guard lock(mutex_);
  if (generation == generation_) {  // else a notification came during the load: it may be stale
    if (products_.size() >= settings_.max_products) {
      products_.erase(products_.begin());
    }
    products_.insert_or_assign(std::string(product_key), Slot{shared, now});
  }
  return shared;
}

Result<std::shared_ptr<const PublishedProduct>> PublishedProducts::Find(store::Db& db,
                                                                        std::string_view product_key) {
  return Find(product_key, [&db](std::string_view pk) { return LoadFromStore(db, pk); });
}

std::vector<std::string> PublishedProducts::Channels() {
  return {store::kChannelProduct, store::kChannelThingModel};
}

bool PublishedProducts::Apply(const store::Notification& notification) {
  if (notification.resync) {
    Clear();
    return true;
  }
  if (notification.channel != store::kChannelProduct && notification.channel != store::kChannelThingModel) {
    return false;
  }
  Invalidate(notification.payload);
  return true;
}

void PublishedProducts::Invalidate(std::string_view product_key) {
  std::lock_guard lock(mutex_);
  if (auto it = products_.find(product_key); it != products_.end()) {
    products_.erase(it);
  }
  ++generation_;
}

void PublishedProducts::Clear() {
  std::lock_guard lock(mutex_);
  products_.clear();
  ++generation_;
}

std::size_t PublishedProducts::Count() const {
  std::lock_guard lock(mutex_);
  return products_.size();
}

}  // namespace iot::catalog

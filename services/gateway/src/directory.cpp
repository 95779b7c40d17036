#include "directory.hpp"

#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/tsl/published.hpp"

namespace iot::gateway {

const boost::system::error_category& LookupCategory() {
  class Category final : public boost::system::error_category {
   public:
    const char* name() const noexcept override { return "gateway.lookup"; }
    std::string message(int ev) const override {
      switch (static_cast<LookupErrc>(ev)) {
        case LookupErrc::kNotFound: return "not found";
        case LookupErrc::kUnavailable: return "directory unavailable";
        case LookupErrc::kFailed: return "lookup failed";
      }
      return "unknown lookup error";
    }
  };
  static const Category category;
  return category;
}

CachingDirectory::CachingDirectory(DirectorySource& source, CacheSettings settings, Clock clock)
    : source_(source), settings_(settings), clock_(std::move(clock)) {}

std::int64_t CachingDirectory::Now() const {
  if (clock_) return clock_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<DeviceEntry> CachingDirectory::FindDevice(std::string_view product_key,
                                                 std::string_view device_name) {
  std::string key;
  key.reserve(product_key.size() + device_name.size() + 1);
  key.append(product_key).append("/").append(device_name);
  const std::int64_t now = Now();
  std::lock_guard lock(mutex_);
  if (auto it = devices_.find(key); it != devices_.end()) {
    if (now - it->second.loaded_ms < settings_.ttl.count()) return it->second.entry;
    devices_.erase(it);
  }
  Result<DeviceEntry> loaded = source_.LoadDevice(product_key, device_name);
  if (!loaded) return loaded;
  if (devices_.size() >= settings_.max_devices) devices_.erase(devices_.begin());
  devices_[key] = DeviceSlot{*loaded, now};
  return loaded;
}

Result<std::shared_ptr<const ProductEntry>> CachingDirectory::FindProduct(
    std::string_view product_key) {
  const std::int64_t now = Now();
  std::lock_guard lock(mutex_);
  std::string key(product_key);
  if (auto it = products_.find(key); it != products_.end()) {
    if (now - it->second.loaded_ms < settings_.ttl.count()) return it->second.entry;
    products_.erase(it);
  }
  Result<ProductEntry> loaded = source_.LoadProduct(product_key);
  if (!loaded) return loaded.error();
  auto entry = std::make_shared<ProductEntry>(std::move(*loaded));
  if (entry->version && !entry->tsl_json.empty()) entry->model = tsl::ParsePublishedModel(entry->tsl_json);
  if (products_.size() >= settings_.max_products) products_.erase(products_.begin());
  std::shared_ptr<const ProductEntry> shared = entry;
  products_[key] = ProductSlot{shared, now};
  return shared;
}

void CachingDirectory::InvalidateProduct(std::string_view product_key) {
  std::lock_guard lock(mutex_);
  products_.erase(std::string(product_key));
  // The device entries carry nothing product-level, so they stay.
  ++generation_;
}

void CachingDirectory::InvalidateDevice(std::string_view key) {
  std::lock_guard lock(mutex_);
  devices_.erase(std::string(key));
  ++generation_;
}

void CachingDirectory::Clear() {
  std::lock_guard lock(mutex_);
  devices_.clear();
  products_.clear();
  ++generation_;
}

std::size_t CachingDirectory::DeviceCount() const {
  std::lock_guard lock(mutex_);
  return devices_.size();
}

std::size_t CachingDirectory::ProductCount() const {
  std::lock_guard lock(mutex_);
  return products_.size();
}

}  // namespace iot::gateway

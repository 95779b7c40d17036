#include "directory.hpp"

#include <chrono>
#include <vector>

#include "iot/common/error_category.hpp"

namespace iot::gateway {

const boost::system::error_category& LookupCategory() {
  static const TableCategory kCategory(
      "gateway.lookup",
      std::array{std::pair{LookupErrc::kNotFound, "not found"},
                 std::pair{LookupErrc::kUnavailable, "directory unavailable"},
                 std::pair{LookupErrc::kFailed, "lookup failed"}},
      "unknown lookup error");
  return kCategory;
}

CachingDirectory::CachingDirectory(DirectorySource& source, CacheSettings settings, Clock clock)
    : source_(source),
      settings_(settings),
      clock_(clock),
      products_(catalog::CacheSettings{settings.max_products, settings.ttl}, std::move(clock)),
      load_product_([this](std::string_view product_key) {
        std::lock_guard lock(mutex_);
        return source_.LoadProduct(product_key);
      }) {}

std::int64_t CachingDirectory::Now() const {
  if (clock_) {
    return clock_();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<DeviceEntry> CachingDirectory::FindDevice(std::string_view product_key, std::string_view device_name) {
  std::string key;
  key.reserve(product_key.size() + device_name.size() + 1);
  key.append(product_key).append("/").append(device_name);
  const std::int64_t now = Now();
  std::lock_guard lock(mutex_);
  if (auto it = devices_.find(key); it != devices_.end()) {
    if (now - it->second.loaded_ms < settings_.ttl.count()) {
      return it->second.entry;
    }
    devices_.erase(it);
  }
  Result<DeviceEntry> loaded = source_.LoadDevice(product_key, device_name);
  if (!loaded) {
    return loaded;
  }
  if (devices_.size() >= settings_.max_devices) {
    devices_.erase(devices_.begin());
  }
  devices_[key] = DeviceSlot{*loaded, now};
  return loaded;
}

Result<std::shared_ptr<const ProductEntry>> CachingDirectory::FindProduct(std::string_view product_key) {
  return products_.Find(product_key, load_product_);
}

Result<std::string> CachingDirectory::UrlSigningKey() {
  std::lock_guard lock(mutex_);
  if (!url_key_) {
    Result<std::string> loaded = source_.LoadUrlSigningKey();
    if (!loaded) {
      return loaded;
    }
    url_key_ = std::move(*loaded);
  }
  return *url_key_;
}

std::vector<std::string> CachingDirectory::Channels() {
  std::vector<std::string> channels = catalog::PublishedProducts::Channels();
  channels.emplace_back(store::kChannelDevice);
  return channels;
}

void CachingDirectory::Apply(const store::Notification& notification) {
  if (notification.resync) {
    Clear();
  } else if (notification.channel == store::kChannelDevice) {
    InvalidateDevice(notification.payload);
  } else {
    products_.Apply(notification);
  }
}

void CachingDirectory::InvalidateProduct(std::string_view product_key) {
  products_.Invalidate(product_key);  // the device entries carry nothing product-level, so they stay
}

void CachingDirectory::InvalidateDevice(std::string_view key) {
  std::lock_guard lock(mutex_);
  devices_.erase(std::string(key));
}

void CachingDirectory::Clear() {
  {
    std::lock_guard lock(mutex_);
    devices_.clear();
  }
  products_.Clear();
}

std::size_t CachingDirectory::DeviceCount() const {
  std::lock_guard lock(mutex_);
  return devices_.size();
}

std::size_t CachingDirectory::ProductCount() const { return products_.Count(); }

}  // namespace iot::gateway

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <boost/system/error_code.hpp>

#include "iot/catalog/published_products.hpp"
#include "iot/common/result.hpp"
#include "iot/store/listener.hpp"
#include "iot/tsl/thing_model.hpp"
#include "iot/tsl/validator.hpp"

// What the gateway knows about devices and products: a bounded, invalidated cache in front of the
// store. Lookups fail with the seam's own errors (LookupErrc), so that the handler does not know
// which database stands behind it.
namespace iot::gateway {

enum class LookupErrc {
  kNotFound = 1,     // no such device or product
  kUnavailable = 2,  // the source is away (PostgreSQL down): retry, never answer 6100 for it
  kFailed = 3,       // any other failure of the source: handled like kNotFound
};

const boost::system::error_category& LookupCategory();

inline boost::system::error_code make_error_code(LookupErrc e) {  // NOLINT: found by ADL
  return {static_cast<int>(e), LookupCategory()};
}

// True when a lookup failed because the source is away (the message is handled again later).
inline bool Unavailable(const boost::system::error_code& ec) {
  return ec == make_error_code(LookupErrc::kUnavailable);
}

struct DeviceEntry {
  std::int64_t device_id = 0;
  bool enabled = true;
  // The gateway whose topology holds the device (sub-devices), empty when none.
  std::string gateway_product_key;
  std::string gateway_device_name;
  std::string iot_id;  // immutable (009_fleet.sql): forwarded messages carry it
};

// A product's published model and mode: libs/catalog owns it (and its cache), the API uses the same.
using ProductEntry = catalog::PublishedProduct;

// The lookups the handler needs.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual Result<DeviceEntry> FindDevice(std::string_view product_key, std::string_view device_name) = 0;
  virtual Result<std::shared_ptr<const ProductEntry>> FindProduct(std::string_view product_key) = 0;
  // The key that signs download links (store::EnsureUrlSigningKey), shared with every iot-api.
  virtual Result<std::string> UrlSigningKey() = 0;
};

// Where the cache loads from (the store, or a fake in tests); fails with LookupErrc. Thread-safety is
// the caller's: the cache serialises calls to it.
class DirectorySource {
 public:
  virtual ~DirectorySource() = default;
  virtual Result<DeviceEntry> LoadDevice(std::string_view product_key, std::string_view device_name) = 0;
  // Unparsed (catalog::LoadFromStore); the cache parses the model.
  virtual Result<ProductEntry> LoadProduct(std::string_view product_key) = 0;
  virtual Result<std::string> LoadUrlSigningKey() = 0;
};

struct CacheSettings {
  std::size_t max_devices = 200000;
  std::size_t max_products = 10000;
  // Safety net behind LISTEN/NOTIFY: entries are reloaded after this long anyway.
  std::chrono::milliseconds ttl{60000};
};

// Thread-safe. Device loads happen under the cache's mutex (misses are rare; the source is one
// connection, so product loads take that mutex too). Products are a catalog::PublishedProducts: its
// lookups take only its own mutex, so a device miss never holds up the per-message product lookup.
class CachingDirectory final : public Directory {
 public:
  using Clock = std::function<std::int64_t()>;  // ms, monotonic
  CachingDirectory(DirectorySource& source, CacheSettings settings, Clock clock = {});

  Result<DeviceEntry> FindDevice(std::string_view product_key, std::string_view device_name) override;
  Result<std::shared_ptr<const ProductEntry>> FindProduct(std::string_view product_key) override;
  // Loaded once (it never changes) and kept.
  Result<std::string> UrlSigningKey() override;

  // The channels Apply understands: catalog::PublishedProducts::Channels() and device changes.
  static std::vector<std::string> Channels();
  // From LISTEN/NOTIFY: what a product, publish or device ("pk/dn") notification makes stale;
  // everything on a resync.
  void Apply(const store::Notification& notification);
  void InvalidateProduct(std::string_view product_key);
  void InvalidateDevice(std::string_view product_key_slash_device_name);
  void Clear();

  std::size_t DeviceCount() const;
  std::size_t ProductCount() const;

 private:
  struct DeviceSlot {
    DeviceEntry entry;
    std::int64_t loaded_ms = 0;
  };
  std::int64_t Now() const;

  DirectorySource& source_;
  CacheSettings settings_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, DeviceSlot> devices_;  // "pk/dn"
  std::optional<std::string> url_key_;                   // under mutex_
  catalog::PublishedProducts products_;
  catalog::PublishedProducts::Loader load_product_;  // source_.LoadProduct under mutex_
};

}  // namespace iot::gateway

namespace boost::system {
template <>
struct is_error_code_enum<iot::gateway::LookupErrc> : std::true_type {};
}  // namespace boost::system

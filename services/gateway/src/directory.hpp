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

#include <boost/system/error_code.hpp>

#include "iot/common/result.hpp"
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
};

struct ProductEntry {
  std::string product_key;
  tsl::Mode mode = tsl::Mode::kWeak;
  std::optional<int> version;                    // absent: nothing published
  std::string tsl_json;                          // the published TSL ("" without a version)
  std::shared_ptr<const tsl::ThingModel> model;  // null without a version or when unparsable
  bool raw = false;                              // dataFormat "raw": devices send bytes
  std::shared_ptr<const std::string> script;     // raw products: the parsing script (null: none)
  std::int64_t script_updated_at = 0;
};

// The lookups the handler needs.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual Result<DeviceEntry> FindDevice(std::string_view product_key,
                                         std::string_view device_name) = 0;
  virtual Result<std::shared_ptr<const ProductEntry>> FindProduct(std::string_view product_key) = 0;
};

// Where the cache loads from (the store, or a fake in tests); fails with LookupErrc. Thread-safety is
// the caller's: the cache serialises calls to it.
class DirectorySource {
 public:
  virtual ~DirectorySource() = default;
  virtual Result<DeviceEntry> LoadDevice(std::string_view product_key,
                                         std::string_view device_name) = 0;
  // tsl_json/version/mode only; the cache parses the model.
  virtual Result<ProductEntry> LoadProduct(std::string_view product_key) = 0;
};

struct CacheSettings {
  std::size_t max_devices = 200000;
  std::size_t max_products = 10000;
  // Safety net behind LISTEN/NOTIFY: entries are reloaded after this long anyway.
  std::chrono::milliseconds ttl{60000};
};

// Thread-safe. Loads happen under the cache's mutex (misses are rare; the source is one connection).
class CachingDirectory final : public Directory {
 public:
  using Clock = std::function<std::int64_t()>;  // ms, monotonic
  CachingDirectory(DirectorySource& source, CacheSettings settings, Clock clock = {});

  Result<DeviceEntry> FindDevice(std::string_view product_key, std::string_view device_name) override;
  Result<std::shared_ptr<const ProductEntry>> FindProduct(std::string_view product_key) override;

  // From LISTEN/NOTIFY: product (settings or model) changed; device changed ("pk/dn"); resync.
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
  struct ProductSlot {
    std::shared_ptr<const ProductEntry> entry;
    std::int64_t loaded_ms = 0;
  };
  std::int64_t Now() const;

  DirectorySource& source_;
  CacheSettings settings_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, DeviceSlot> devices_;    // "pk/dn"
  std::unordered_map<std::string, ProductSlot> products_;  // pk
  std::uint64_t generation_ = 0;  // bumped by every invalidation; a load that raced one is not cached
};

}  // namespace iot::gateway

namespace boost::system {
template <>
struct is_error_code_enum<iot::gateway::LookupErrc> : std::true_type {};
}  // namespace boost::system

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

// Remote configuration (Alink thing.config.get / push): per product a JSON file with versions, stored
// as the exact text uploaded; and the keys that sign download links.
namespace iot::store {

inline constexpr std::size_t kMaxConfigBytes = 64 * 1024;
// Versions kept per product: an upload beyond this many deletes the oldest.
inline constexpr int kKeptConfigVersions = 20;

struct ProductConfigInfo {
  std::string config_id;  // 32 lower-case hex characters
  std::string product_key;
  int version = 0;
  std::int64_t size = 0;  // bytes
  std::string sha256;     // lower-case hex of the content's SHA-256
  TimeMs created_at = 0;
  std::string created_by;
};

struct ProductConfig {
  ProductConfigInfo info;
  std::string content;
};

// Stores `content` (the caller checked it is JSON, at most kMaxConfigBytes) as the product's next
// version, computed under a row lock of the product; keeps the newest kKeptConfigVersions. kNotFound
// without the product, kInvalid when over kMaxConfigBytes. NOTIFYs kChannelProduct.
Result<ProductConfigInfo> PutProductConfig(Db& db, std::string_view product_key, std::string_view content,
                                           std::string_view created_by);
// The newest version; nullopt when the product has none, kNotFound without the product.
Result<std::optional<ProductConfig>> GetCurrentProductConfig(Db& db, std::string_view product_key);
// Any kept version by its id (download links). kNotFound.
Result<ProductConfig> GetProductConfigById(Db& db, std::string_view config_id);
// The kept versions, newest first, without content. kNotFound without the product.
Result<std::vector<ProductConfigInfo>> ListProductConfigVersions(Db& db, std::string_view product_key);

// Names of the product's online devices after `after_name` in name order, at most `limit`.
Result<std::vector<std::string>> ListOnlineDeviceNames(Db& db, std::string_view product_key,
                                                       std::string_view after_name, int limit);

// The link-signing key named `name` (raw bytes): created once with 32 random bytes when absent, by
// whichever instance asks first; every instance then reads the same key.
Result<std::string> EnsureUrlSigningKey(Db& db, std::string_view name);
inline constexpr std::string_view kDownloadKeyName = "downloads";

}  // namespace iot::store

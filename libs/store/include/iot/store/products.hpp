#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

inline constexpr int kDefaultRetentionDays = 30;

struct Product {
  std::string product_key;
  std::string name;
  NodeType node_type = NodeType::kDevice;
  ValidationMode validation = ValidationMode::kWeak;
  DataFormat data_format = DataFormat::kAlink;
  int retention_days = kDefaultRetentionDays;
  std::string description;
  int timestamp_window_s = 0;  // device passwords' timestamp window (0 = not checked)
  TimeMs created_at = 0;
  std::optional<TimeMs> script_updated_at;  // raw products: when the script was last saved
  std::optional<int> thing_model_version;   // newest published version, if any
  std::int64_t device_count = 0;
  std::string product_secret;         // one-product-one-secret registration; the API shows it to admins
  bool dynamic_registration = false;  // devices may fetch their secret with the product secret
  bool remote_config = false;         // devices may fetch the product's configuration file
};

struct ProductCreate {
  std::optional<std::string> product_key;  // generated (11 letters/digits) when absent
  std::string name;
  NodeType node_type = NodeType::kDevice;
  ValidationMode validation = ValidationMode::kWeak;
  DataFormat data_format = DataFormat::kAlink;  // fixed for the product's life
  int retention_days = kDefaultRetentionDays;   // >= 1, else kInvalid
  std::string description;
  int timestamp_window_s = 0;                 // 0 = not checked, else 1..86400 s
  std::optional<std::string> product_secret;  // an existing ProductSecret; generated when absent
  bool dynamic_registration = false;
  bool remote_config = false;
};

struct ProductPatch {
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<ValidationMode> validation;
  std::optional<int> retention_days;
  std::optional<int> timestamp_window_s;  // 0 clears it
  std::optional<bool> dynamic_registration;
  std::optional<bool> remote_config;
};

// The API checks formats (productKey 4-32 letters/digits); the store enforces uniqueness (kConflict).
// Changes NOTIFY channel kChannelProduct (listener.hpp).
Result<Product> CreateProduct(Db& db, const ProductCreate& request);
Result<Product> GetProduct(Db& db, std::string_view product_key);
// Ordered by product_key.
Result<Page<Product>> ListProducts(Db& db, const PageQuery& page);
Result<Product> PatchProduct(Db& db, std::string_view product_key, const ProductPatch& patch);
// kConflict while the product still has devices; kNotFound when absent.
Result<void> DeleteProduct(Db& db, std::string_view product_key);

// A raw product's parsing script.
struct ProductScript {
  std::string script;
  TimeMs updated_at = 0;
};
// kNotFound when the product does not exist; nullopt when it has no script.
Result<std::optional<ProductScript>> GetProductScript(Db& db, std::string_view product_key);
// Saves the script (the caller checked that it compiles and that the product is raw). kNotFound.
// NOTIFYs kChannelProduct: the gateway and iot-api reload it.
Result<ProductScript> PutProductScript(Db& db, std::string_view product_key, std::string_view script);

// A new random productSecret (16 letters/digits); kNotFound when absent.
Result<Product> RotateProductSecret(Db& db, std::string_view product_key);

// 11 random characters [A-Za-z0-9] (like Alibaba product keys).
std::string GenerateProductKey();

}  // namespace iot::store

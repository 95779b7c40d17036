#include "iot/store/product_config.hpp"

#include "connection.hpp"
#include "iot/common/hex.hpp"
#include "iot/common/signed_url.hpp"
#include "product_config_tx.hpp"

namespace iot::store {
namespace {

#define IOT_CONFIG_INFO_COLUMNS \
  "config_id, product_key, version, size, sha256, iot_ms(created_at), created_by"

const Statement kLockProduct{"pc_lock_product", "SELECT 1 FROM products WHERE product_key = $1 FOR UPDATE"};
const Statement kProductExists{"pc_product_exists", "SELECT 1 FROM products WHERE product_key = $1"};
const Statement kInsert{
    "pc_insert",
    "INSERT INTO product_configs (config_id, product_key, version, content, size, sha256, created_by) "
    "SELECT $1, $2, coalesce((SELECT max(version) FROM product_configs WHERE product_key = $2), 0) + 1, "
    "$3, $4, $5, $6 "
    "RETURNING " IOT_CONFIG_INFO_COLUMNS};
const Statement kPrune{"pc_prune", "DELETE FROM product_configs WHERE product_key = $1 AND version <= $2"};
const Statement kCurrent{"pc_current", "SELECT " IOT_CONFIG_INFO_COLUMNS
                                       ", content FROM product_configs WHERE product_key = $1 "
                                       "ORDER BY version DESC LIMIT 1"};
const Statement kCurrentInfo{"pc_current_info", "SELECT " IOT_CONFIG_INFO_COLUMNS
                                                " FROM product_configs WHERE product_key = $1 "
                                                "ORDER BY version DESC LIMIT 1"};
const Statement kById{
    "pc_by_id", "SELECT " IOT_CONFIG_INFO_COLUMNS ", content FROM product_configs WHERE config_id = $1"};
const Statement kList{"pc_list",
                      "SELECT " IOT_CONFIG_INFO_COLUMNS
                      " FROM product_configs WHERE product_key = $1 ORDER BY version DESC LIMIT $2"};
const Statement kOnline{"pc_online_devices",
                        "SELECT device_name FROM devices WHERE product_key = $1 AND status = 'online' "
                        "AND device_name > $2 ORDER BY device_name LIMIT $3"};
const Statement kInsertKey{"pc_insert_key",
                           "INSERT INTO url_signing_keys (name, key_hex) VALUES ($1, $2) "
                           "ON CONFLICT (name) DO NOTHING"};
const Statement kGetKey{"pc_get_key", "SELECT key_hex FROM url_signing_keys WHERE name = $1"};

ProductConfigInfo ReadInfo(const pqxx::row& r) {
  ProductConfigInfo info;
  info.config_id = r[0].as<std::string>();
  info.product_key = r[1].as<std::string>();
  info.version = r[2].as<int>();
  info.size = r[3].as<std::int64_t>();
  info.sha256 = r[4].as<std::string>();
  info.created_at = r[5].as<TimeMs>();
  info.created_by = r[6].as<std::string>();
  return info;
}

ProductConfig ReadConfig(const pqxx::row& r) { return ProductConfig{ReadInfo(r), r[7].as<std::string>()}; }

}  // namespace

std::optional<ProductConfigInfo> CurrentConfigInfoIn(pqxx::transaction_base& tx,
                                                     const std::string& product_key) {
  auto r = Exec(tx, kCurrentInfo, product_key);
  if (r.empty()) {
    return std::nullopt;
  }
  return ReadInfo(r[0]);
}

Result<ProductConfigInfo> PutProductConfig(Db& db, std::string_view product_key, std::string_view content,
                                           std::string_view created_by) {
  if (content.size() > kMaxConfigBytes) {
    return make_error_code(Errc::kInvalid);
  }
  const std::string config_id = RandomHex(16);
  const std::string sha = Sha256Hex(content);
  return Run(db, [&](pqxx::connection& c) -> Result<ProductConfigInfo> {
    pqxx::work tx(c);
    if (Exec(tx, kLockProduct, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kInsert, config_id, S(product_key), S(content),
                  static_cast<std::int64_t>(content.size()), sha, S(created_by));
    ProductConfigInfo info = ReadInfo(r[0]);
    Exec(tx, kPrune, S(product_key), info.version - kKeptConfigVersions);
    tx.commit();
    return info;
  });
}

Result<std::optional<ProductConfig>> GetCurrentProductConfig(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::optional<ProductConfig>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kCurrent, S(product_key));
    if (r.empty()) {
      return std::optional<ProductConfig>();
    }
    return std::optional<ProductConfig>(ReadConfig(r[0]));
  });
}

Result<ProductConfig> GetProductConfigById(Db& db, std::string_view config_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ProductConfig> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kById, S(config_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadConfig(r[0]);
  });
}

Result<std::vector<ProductConfigInfo>> ListProductConfigVersions(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ProductConfigInfo>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<ProductConfigInfo> out;
    for (const auto& row : Exec(tx, kList, S(product_key), kKeptConfigVersions)) {
      out.push_back(ReadInfo(row));
    }
    return out;
  });
}

Result<std::vector<std::string>> ListOnlineDeviceNames(Db& db, std::string_view product_key,
                                                       std::string_view after_name, int limit) {
  if (!ValidLimit(limit)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::read_transaction tx(c);
    std::vector<std::string> out;
    for (const auto& row : Exec(tx, kOnline, S(product_key), S(after_name), limit)) {
      out.push_back(row[0].as<std::string>());
    }
    return out;
  });
}

Result<std::string> EnsureUrlSigningKey(Db& db, std::string_view name) {
  const std::string fresh = RandomHex(32);
  return Run(db, [&](pqxx::connection& c) -> Result<std::string> {
    pqxx::work tx(c);
    Exec(tx, kInsertKey, S(name), fresh);
    auto r = Exec(tx, kGetKey, S(name));
    tx.commit();
    auto key = FromHex(r[0][0].as<std::string>());
    if (!key) {
      return make_error_code(Errc::kInternal);
    }
    return std::move(*key);
  });
}

}  // namespace iot::store

#include "iot/store/products.hpp"

#include "connection.hpp"

namespace iot::store {
namespace {

#define IOT_PRODUCT_COLUMNS                                                                 \
  "p.product_key, p.name, p.node_type, p.validation, p.retention_days, p.description, "     \
  "iot_ms(p.created_at), "                                                                  \
  "p.data_format, iot_ms(p.script_updated_at), "                                            \
  "(SELECT max(version) FROM thing_model_versions v WHERE v.product_key = p.product_key), " \
  "(SELECT count(*) FROM devices d WHERE d.product_key = p.product_key), "                  \
  "coalesce(p.timestamp_window_s, 0), p.product_secret, p.dynamic_registration, p.remote_config"

const Statement kInsert{"product_insert",
                        "INSERT INTO products (product_key, name, node_type, validation, "
                        "retention_days, description, timestamp_window_s, data_format, product_secret, "
                        "dynamic_registration, remote_config) "
                        "VALUES ($1, $2, $3, $4, $5, $6, nullif($7, 0), $8, $9, $10, $11)"};
const Statement kGet{"product_get",
                     "SELECT " IOT_PRODUCT_COLUMNS " FROM products p WHERE p.product_key = $1"};
const Statement kList{"product_list", "SELECT " IOT_PRODUCT_COLUMNS
                                      " FROM products p WHERE p.product_key > $1 "
                                      "ORDER BY p.product_key LIMIT $2"};
const Statement kPatch{"product_patch",
                       "UPDATE products SET name = coalesce($2, name), "
                       "description = coalesce($3, description), "
                       "validation = coalesce($4, validation), "
                       "retention_days = coalesce($5, retention_days), "
                       "timestamp_window_s = CASE WHEN $6::int IS NULL THEN timestamp_window_s "
                       "ELSE nullif($6::int, 0) END, "
                       "dynamic_registration = coalesce($7, dynamic_registration), "
                       "remote_config = coalesce($8, remote_config) WHERE product_key = $1"};
const Statement kGetScript{"product_get_script",
                           "SELECT script, iot_ms(script_updated_at) FROM products WHERE product_key = $1"};
const Statement kPutScript{"product_put_script",
                           "UPDATE products SET script = $2, script_updated_at = iot_now_ms() "
                           "WHERE product_key = $1 RETURNING iot_ms(script_updated_at)"};
const Statement kRotateSecret{"product_rotate_secret",
                              "UPDATE products SET product_secret = $2 WHERE product_key = $1"};
const Statement kDelete{"product_delete", "DELETE FROM products WHERE product_key = $1"};
const Statement kHasDevices{"product_has_devices",
                            "SELECT EXISTS (SELECT 1 FROM devices WHERE product_key = $1)"};

Product ReadProduct(const pqxx::row& r) {
  Product p;
  p.product_key = r[0].as<std::string>();
  p.name = r[1].as<std::string>();
  Parse(r[2].as<std::string>(), p.node_type);
  Parse(r[3].as<std::string>(), p.validation);
  p.retention_days = r[4].as<int>();
  p.description = r[5].as<std::string>();
  p.created_at = r[6].as<TimeMs>();
  Parse(r[7].as<std::string>(), p.data_format);
  p.script_updated_at = Opt<TimeMs>(r[8]);
  p.thing_model_version = Opt<int>(r[9]);
  p.device_count = r[10].as<std::int64_t>();
  p.timestamp_window_s = r[11].as<int>();
  p.product_secret = r[12].as<std::string>();
  p.dynamic_registration = r[13].as<bool>();
  p.remote_config = r[14].as<bool>();
  return p;
}

Result<Product> GetIn(pqxx::transaction_base& tx, const std::string& pk) {
  auto r = Exec(tx, kGet, pk);
  if (r.empty()) {
    return make_error_code(Errc::kNotFound);
  }
  return ReadProduct(r[0]);
}

}  // namespace

std::string GenerateProductKey() { return RandomAlnum(11); }

Result<Product> CreateProduct(Db& db, const ProductCreate& request) {
  const std::string pk = request.product_key.value_or(GenerateProductKey());
  return Run(db, [&](pqxx::connection& c) -> Result<Product> {
    pqxx::work tx(c);
    Exec(tx, kInsert, pk, request.name, S(ToString(request.node_type)), S(ToString(request.validation)),
         request.retention_days, request.description, request.timestamp_window_s,
         S(ToString(request.data_format)), request.product_secret.value_or(RandomAlnum(16)),
         request.dynamic_registration, request.remote_config);
    auto p = GetIn(tx, pk);
    tx.commit();
    return p;
  });
}

Result<Product> GetProduct(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<Product> {
    pqxx::read_transaction tx(c);
    return GetIn(tx, S(product_key));
  });
}

Result<Page<Product>> ListProducts(Db& db, const PageQuery& page) {
  if (!ValidLimit(page.limit)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<Product>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kList, page.cursor, page.limit + 1);
    Page<Product> out;
    for (const auto& row : r) {
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next_cursor = out.items.back().product_key;
        break;
      }
      out.items.push_back(ReadProduct(row));
    }
    return out;
  });
}

Result<Product> PatchProduct(Db& db, std::string_view product_key, const ProductPatch& patch) {
  std::optional<std::string> validation;
  if (patch.validation) {
    validation = S(ToString(*patch.validation));
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Product> {
    pqxx::work tx(c);
    auto r = Exec(tx, kPatch, S(product_key), patch.name, patch.description, validation, patch.retention_days,
                  patch.timestamp_window_s, patch.dynamic_registration, patch.remote_config);
    if (r.affected_rows() == 0) {
      return make_error_code(Errc::kNotFound);
    }
    auto p = GetIn(tx, S(product_key));
    tx.commit();
    return p;
  });
}

Result<std::optional<ProductScript>> GetProductScript(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::optional<ProductScript>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetScript, S(product_key));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    if (r[0][0].is_null()) {
      return std::optional<ProductScript>();
    }
    return std::optional<ProductScript>(ProductScript{r[0][0].as<std::string>(), r[0][1].as<TimeMs>()});
  });
}

Result<ProductScript> PutProductScript(Db& db, std::string_view product_key, std::string_view script) {
  return Run(db, [&](pqxx::connection& c) -> Result<ProductScript> {
    pqxx::work tx(c);
    auto r = Exec(tx, kPutScript, S(product_key), S(script));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    ProductScript out{S(script), r[0][0].as<TimeMs>()};
    tx.commit();
    return out;
  });
}

Result<Product> RotateProductSecret(Db& db, std::string_view product_key) {
  const std::string secret = RandomAlnum(16);
  return Run(db, [&](pqxx::connection& c) -> Result<Product> {
    pqxx::work tx(c);
    if (Exec(tx, kRotateSecret, S(product_key), secret).affected_rows() == 0) {
      return make_error_code(Errc::kNotFound);
    }
    auto p = GetIn(tx, S(product_key));
    tx.commit();
    return p;
  });
}

Result<void> DeleteProduct(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    if (Exec(tx, kHasDevices, S(product_key))[0][0].as<bool>()) {
      return make_error_code(Errc::kConflict);
    }
    auto r = Exec(tx, kDelete, S(product_key));  // a device created meanwhile: FK RESTRICT -> kConflict
    tx.commit();
    if (r.affected_rows() == 0) {
      return make_error_code(Errc::kNotFound);
    }
    return {};
  });
}

}  // namespace iot::store

#include "iot/store/registration.hpp"

#include "connection.hpp"

namespace iot::store {
namespace {

const Statement kLookup{
    "reg_lookup",
    "SELECT p.product_secret, p.dynamic_registration, d.id IS NOT NULL, coalesce(d.secret, ''), "
    "coalesce(d.iot_id, ''), coalesce(d.enabled, false), "
    "coalesce(d.status = 'unactive' OR (d.registration_reset_at IS NOT NULL AND "
    "(d.last_online_at IS NULL OR d.registration_reset_at > d.last_online_at)), false) "
    "FROM products p LEFT JOIN devices d ON d.product_key = p.product_key AND d.device_name = $2 "
    "WHERE p.product_key = $1"};
// clock_timestamp(): later than a connect committed before this statement.
const Statement kReset{"reg_reset",
                       "UPDATE devices SET registration_reset_at = clock_timestamp(), "
                       "secret = coalesce($3, secret) WHERE product_key = $1 AND device_name = $2 "
                       "RETURNING secret"};
const Statement kProductExists{"reg_product_exists", "SELECT 1 FROM products WHERE product_key = $1"};
const Statement kCredentials{"reg_credentials",
                             "SELECT device_name, secret, nickname, iot_id FROM devices "
                             "WHERE product_key = $1 ORDER BY id"};

}  // namespace

Result<RegistrationState> LookupRegistration(Db& db, std::string_view product_key,
                                             std::string_view device_name) {
  return Run(db, [&](pqxx::connection& c) -> Result<RegistrationState> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kLookup, S(product_key), S(device_name));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    RegistrationState out;
    out.product_secret = r[0][0].as<std::string>();
    out.dynamic_registration = r[0][1].as<bool>();
    out.device_exists = r[0][2].as<bool>();
    out.device_secret = r[0][3].as<std::string>();
    out.iot_id = r[0][4].as<std::string>();
    out.enabled = r[0][5].as<bool>();
    out.registrable = r[0][6].as<bool>();
    return out;
  });
}

Result<RegistrationReset> ResetRegistration(Db& db, std::string_view product_key,
                                            std::string_view device_name,
                                            const std::optional<std::string>& new_secret) {
  return Run(db, [&](pqxx::connection& c) -> Result<RegistrationReset> {
    pqxx::work tx(c);
    auto r = Exec(tx, kReset, S(product_key), S(device_name), new_secret);
    tx.commit();
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return RegistrationReset{.device_secret = r[0][0].as<std::string>(), .rotated = new_secret.has_value()};
  });
}

Result<std::vector<DeviceCredentials>> ListCredentials(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<DeviceCredentials>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<DeviceCredentials> out;
    for (const auto& row : Exec(tx, kCredentials, S(product_key))) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::string>()});
    }
    return out;
  });
}

}  // namespace iot::store

#pragma once

// Fleet credentials beyond one device: one-product-one-secret dynamic registration (pre-registration:
// the device must exist) and the export of a product's credentials.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// What a registration request needs to decide, read in one round trip.
struct RegistrationState {
  std::string product_secret;
  bool dynamic_registration = false;
  bool device_exists = false;
  // The rest is meaningful only when device_exists.
  std::string device_secret;
  std::string iot_id;
  bool enabled = true;
  // Never activated, or reset by an operator after the device was last online.
  bool registrable = false;
};

// kNotFound for an unknown product (an unknown device is device_exists = false).
Result<RegistrationState> LookupRegistration(Db& db, std::string_view product_key,
                                             std::string_view device_name);

struct RegistrationReset {
  std::string device_secret;  // the current one (new when rotated)
  bool rotated = false;
};
// Allows registration again until the device next comes online; `new_secret` replaces the secret.
// kNotFound when the device does not exist.
Result<RegistrationReset> ResetRegistration(Db& db, std::string_view product_key,
                                            std::string_view device_name,
                                            const std::optional<std::string>& new_secret);

struct DeviceCredentials {
  std::string device_name;
  std::string device_secret;
  std::string nickname;
  std::string iot_id;
};
// Every device of a product, in creation order; kNotFound for an unknown product.
Result<std::vector<DeviceCredentials>> ListCredentials(Db& db, std::string_view product_key);

}  // namespace iot::store

#pragma once

// The current configuration's metadata read inside another repository call's transaction (the
// published-model load the gateway's and iot-api's product caches use).

#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "iot/store/product_config.hpp"

namespace iot::store {

std::optional<ProductConfigInfo> CurrentConfigInfoIn(pqxx::transaction_base& tx,
                                                     const std::string& product_key);

}  // namespace iot::store

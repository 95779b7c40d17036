#pragma once

// The fleet at a glance: device counts by state for every product (the console's overview page).

#include <cstdint>
#include <string>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"

namespace iot::store {

struct ProductStatusCounts {
  std::string product_key;
  std::string name;
  std::int64_t online = 0;  // enabled devices by status
  std::int64_t offline = 0;
  std::int64_t unactive = 0;
  std::int64_t disabled = 0;  // enabled = false, whatever their status
};

// Every product (ordered by productKey) with its counts; one aggregate query.
Result<std::vector<ProductStatusCounts>> ListProductStatusCounts(Db& db);

}  // namespace iot::store

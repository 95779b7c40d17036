#include "iot/store/overview.hpp"

#include "connection.hpp"

namespace iot::store {
namespace {

const Statement kCounts{"overview_counts",
                        "SELECT p.product_key, p.name, "
                        "count(d.id) FILTER (WHERE d.enabled AND d.status = 'online'), "
                        "count(d.id) FILTER (WHERE d.enabled AND d.status = 'offline'), "
                        "count(d.id) FILTER (WHERE d.enabled AND d.status = 'unactive'), "
                        "count(d.id) FILTER (WHERE NOT d.enabled) "
                        "FROM products p LEFT JOIN devices d ON d.product_key = p.product_key "
                        "GROUP BY p.product_key, p.name ORDER BY p.product_key"};

}  // namespace

Result<std::vector<ProductStatusCounts>> ListProductStatusCounts(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ProductStatusCounts>> {
    pqxx::read_transaction tx(c);
    std::vector<ProductStatusCounts> out;
    for (const auto& row : Exec(tx, kCounts)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::int64_t>(),
                     row[3].as<std::int64_t>(), row[4].as<std::int64_t>(), row[5].as<std::int64_t>()});
    }
    return out;
  });
}

}  // namespace iot::store

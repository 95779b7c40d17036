#include "iot/testing/pg_database.hpp"

#include <unistd.h>

#include <atomic>
#include <random>

#include <pqxx/pqxx>

#include "iot/testing/env.hpp"

namespace iot::testing {
namespace {

std::string WithDatabase(const std::string& dsn, const std::string& db) {
  // DSNs here are URIs: postgresql://user@host:port/dbname[?params]
  const auto scheme = dsn.find("://");
  const auto slash = dsn.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = dsn.find('?');
  std::string base = slash == std::string::npos ? dsn : dsn.substr(0, slash);
  std::string params = query == std::string::npos ? "" : dsn.substr(query);
  return base + "/" + db + params;
}

}  // namespace

PgDatabase::PgDatabase() : admin_dsn_(RequireEnv("IOT_TEST_PG_DSN")) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  name_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
          std::to_string(rd() % 100000);
  pqxx::connection admin(admin_dsn_);
  pqxx::nontransaction tx(admin);
  tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  dsn_ = WithDatabase(admin_dsn_, name_);
}

PgDatabase::~PgDatabase() {
  try {
    pqxx::connection admin(admin_dsn_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
    // Leaving a database behind in a throwaway server is harmless; never throw from a destructor.
  }
}

}  // namespace iot::testing

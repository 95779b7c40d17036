#pragma once

#include <string>

namespace iot::testing {

// A database of its own for one test: created empty on the server that tests/run.sh started
// (IOT_TEST_PG_DSN), dropped again at destruction. Tests never share data.
class PgDatabase final {
 public:
  PgDatabase();
  ~PgDatabase();
  PgDatabase(const PgDatabase&) = delete;
  PgDatabase& operator=(const PgDatabase&) = delete;

  const std::string& Dsn() const { return dsn_; }
  const std::string& Name() const { return name_; }

 private:
  std::string admin_dsn_;
  std::string name_;
  std::string dsn_;
};

}  // namespace iot::testing

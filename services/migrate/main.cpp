// iot-migrate [dsn]: migrates the database (default: $IOT_PG_DSN) to the schema this build knows.
// Exit 0 when up to date, 1 on failure (also when the database is newer than this binary).
#include <cstdlib>
#include <iostream>

#include "iot/store/migrator.hpp"

int main(int argc, char** argv) {
  const char* env = std::getenv("IOT_PG_DSN");  // NOLINT(concurrency-mt-unsafe): single-threaded main
  const std::string dsn = argc > 1 ? argv[1] : (env != nullptr ? env : "");
  if (dsn.empty()) {
    std::cerr << "usage: iot-migrate <dsn>  (or set IOT_PG_DSN)\n";
    return 2;
  }
  iot::store::Migrator migrator(dsn);
  auto report = migrator.Migrate();
  if (!report) {
    std::cerr << "iot-migrate: " << migrator.LastError() << "\n";
    return 1;
  }
  std::cerr << "iot-migrate: schema version " << report->from_version << " -> " << report->to_version
            << " (" << report->applied.size() << " applied)\n";
  return 0;
}

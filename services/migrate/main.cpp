// iot-migrate [dsn]: migrates the database (default: $IOT_PG_DSN) to the schema this build knows.
// Exit 0 when up to date, 1 on failure (also when the database is newer than this binary).
#include <cstdlib>
#include <iostream>

#include "iot/common/log.hpp"
#include "iot/store/migrator.hpp"

namespace {
constexpr const char* kLog = "migrate";
}  // namespace

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
    IOT_LOG_ERROR(kLog, "msg=\"migration failed\" error=" << iot::log::Quote(migrator.LastError()));
    return 1;
  }
  IOT_LOG_INFO(kLog, "msg=\"schema migrated\" from=" << report->from_version << " to=" << report->to_version
                                                  << " applied=" << report->applied.size());
  return 0;
}

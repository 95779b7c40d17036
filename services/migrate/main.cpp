// iot-migrate [dsn]: migrates the database (default: $IOT_PG_DSN) to the schema this build knows.
// Exit 0 when up to date, 1 on failure (also when the database is newer than this binary), 2 on a bad
// command line.
#include <cstdlib>
#include <iostream>

#include "iot/cli/command_line.hpp"
#include "iot/common/config.hpp"
#include "iot/common/log.hpp"
#include "iot/store/migrator.hpp"

namespace {
constexpr const char* kLog = "migrate";
}  // namespace

int main(int argc, char** argv) {
  std::string dsn;
  iot::cli::CommandLine line("iot-migrate", "iot-migrate [DSN]",
                             "Applies the schema migrations this build carries to a PostgreSQL database.");
  line.Hidden()("dsn", iot::cli::po::value<std::string>(&dsn), "connection string");
  line.Positional("dsn", 1);
  line.Epilog("DSN: a PostgreSQL connection string (default: $IOT_PG_DSN).\n");
  if (auto exit_code = line.Parse(argc, argv)) {
    return *exit_code;
  }
  if (dsn.empty()) {
    std::vector<std::string> problems;
    iot::ConfigReader env(
        nlohmann::json::object(), [](const char* name) { return std::getenv(name); }, problems);
    env.String("", "IOT_PG_DSN", dsn);
  }
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

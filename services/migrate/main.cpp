// iot-migrate [dsn]: migrates the database (default: $IOT_PG_DSN) to the schema this build knows.
// Exit 0 when up to date, 1 on failure (also when the database is newer than this binary), 2 on a bad
// command line or environment. Logs like the other services (IOT_LOG_LEVEL, IOT_LOG_FORMAT).
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "iot/cli/command_line.hpp"
#include "iot/common/config.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"
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
  // The environment as the other services read it: IOT_PG_DSN (when no DSN is given), IOT_LOG_LEVEL and
  // IOT_LOG_FORMAT (logfmt or json), checked before anything is logged.
  std::vector<std::string> problems;
  const nlohmann::json no_file = nlohmann::json::object();
  // getenv before any thread exists (the config reader runs once, here).
  iot::ConfigReader env(
      no_file, [](const char* name) { return std::getenv(name); },  // NOLINT(concurrency-mt-unsafe)
      problems);
  if (dsn.empty()) {
    env.String("", "IOT_PG_DSN", dsn);
  }
  std::string level_text = "info";
  std::string format_text = "logfmt";
  env.String("", "IOT_LOG_LEVEL", level_text);
  env.String("", "IOT_LOG_FORMAT", format_text);
  iot::log::Level level = iot::log::Level::kInfo;
  if (!iot::log::ParseLevel(level_text, level)) {
    problems.emplace_back("IOT_LOG_LEVEL: debug, info, warn or error");
  }
  iot::log::Format format = iot::log::Format::kLogfmt;
  if (!iot::log::ParseFormat(format_text, format)) {
    problems.emplace_back("IOT_LOG_FORMAT: logfmt or json");
  }
  if (!problems.empty()) {
    for (const auto& problem : problems) {
      std::cerr << "iot-migrate: " << problem << "\n";
    }
    return 2;
  }
  iot::log::SetLevel(level);
  iot::log::SetFormat(format);
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

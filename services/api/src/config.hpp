#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "transport/server.hpp"

namespace iot::api {

// Everything iot-api is configured with; built once in main() and handed out piecewise.
struct Config {
  ServerSettings http;
  std::string pg_dsn;       // IOT_PG_DSN (required)
  int db_threads = 4;                  // IOT_PG_POOL_THREADS: DB pool workers (one connection each)
  std::size_t db_queue_capacity = 1024;  // IOT_PG_POOL_QUEUE: pending DB tasks before 503
  std::string mqtt_host;  // IOT_MQTT_HOST: broker probed by /readyz ("" = not probed)
  int mqtt_port = 1883;   // IOT_MQTT_PORT
  int maintenance_interval_s = 600;  // IOT_MAINTENANCE_INTERVAL_S: partitions/retention/dedupe (0 = off)
  std::string admin_token;  // IOT_ADMIN_TOKEN: bootstrap admin bearer token (never logged)
  std::string log_level = "info";
  std::string openapi_path;  // the OpenAPI document served at /api/v1/openapi.json
};

// Every problem found, one per line, so an operator fixes them all in one go.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::vector<std::string>& problems);
  const std::vector<std::string>& Problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Environment lookup (getenv in production, a map in tests); returns nullptr when unset.
using EnvLookup = std::function<const char*(const char*)>;

// Reads the JSON file at `config_path` (none: defaults only), then applies the IOT_* environment
// overrides, then validates every field. Throws ConfigError listing all problems.
Config LoadConfig(const std::string& config_path, const EnvLookup& env);

// Parses argv: `--config <path>` (or `--config=<path>`). Throws ConfigError on anything else.
std::string ConfigPathFromArgs(int argc, const char* const* argv);

}  // namespace iot::api

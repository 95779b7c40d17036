#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "transport/server.hpp"

namespace iot::api {

// Everything iot-api is configured with; built once in main() and handed out piecewise.
struct Config {
  ServerSettings http;
  std::string pg_dsn;       // IOT_PG_DSN (used once the store is wired)
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

#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

// What every service's configuration loader shares (the services' own fields stay in their config.hpp).
namespace iot {

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

// Parses argv: `--config <path>` or `--config=<path>` (none: ""). Anything else throws ConfigError
// naming `program` in the usage line.
std::string ConfigPathFromArgs(int argc, const char* const* argv, const std::string& program);

}  // namespace iot

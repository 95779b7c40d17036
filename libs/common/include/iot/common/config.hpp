#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

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

// Reads a JSON configuration file: an object, or ConfigError naming the file. "" = no file (an empty object).
nlohmann::json ReadConfigFile(const std::string& path);

// The one reader of settings: a key of the JSON file (a dotted path, "http.port"), then the environment
// variable, which wins. An environment variable set to the empty string counts as unset (`IOT_X=` in an
// env file or a compose file leaves the file's value or the default). Values outside a range, of the wrong
// type or unparsable are collected as problems in the same words for every service:
//   <key>: must be a string | must be an integer | must be a number
//   <IOT_NAME>: not an integer: <text> | not a number: <text>
//   <key or IOT_NAME>: <value> is outside <min>..<max>
// and `out` keeps its previous value.
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& file, EnvLookup env, std::vector<std::string>& problems)
      : file_(file), env_(std::move(env)), problems_(problems) {}

  // key "" or env_name nullptr: that source is not read.
  void String(std::string_view key, const char* env_name, std::string& out);
  void Double(std::string_view key, const char* env_name, double min, double max, double& out);
  template <class T>
  void Int(std::string_view key, const char* env_name, long long min, long long max, T& out) {
    long long value = 0;
    if (ReadInt(key, env_name, min, max, value)) {
      out = static_cast<T>(value);
    }
  }

  // The variable's value, or nullptr when it is unset or empty.
  const char* Env(const char* env_name) const;

  // The file keys read so far (dotted paths), in order: the schema of the file is the reads themselves.
  const std::vector<std::string>& Keys() const { return keys_; }
  // After the last read: every key of the file that no read asked for becomes a problem
  // "<where><key>: unknown setting" (a typo or a setting of another version is never silently ignored);
  // a non-object where reads expect an object: "<where><key>: must be an object".
  void RefuseUnread(const std::string& where);

 private:
  void RefuseUnread(const nlohmann::json& object, const std::string& prefix, const std::string& where);
  const nlohmann::json* Find(std::string_view key);  // records `key` as read
  bool ReadInt(std::string_view key, const char* env_name, long long min, long long max, long long& out);

  const nlohmann::json& file_;
  EnvLookup env_;
  std::vector<std::string>& problems_;
  std::vector<std::string> keys_;
};

}  // namespace iot

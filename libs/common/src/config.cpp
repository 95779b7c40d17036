#include "iot/common/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string_view>

namespace iot {
namespace {

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string text = "invalid configuration:";
  for (const auto& p : problems) {
    text += "\n  " + p;
  }
  return text;
}

// Shortest text of a double that reads back the same (ranges of rates: "0..1e+06").
std::string DoubleText(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

ConfigError::ConfigError(const std::vector<std::string>& problems)
    : std::runtime_error(JoinProblems(problems)), problems_(problems) {}

nlohmann::json ReadConfigFile(const std::string& path) {
  if (path.empty()) {
    return nlohmann::json::object();
  }
  std::ifstream in(path);
  if (!in) {
    throw ConfigError({"cannot read config file " + path});
  }
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json file;
  try {
    file = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw ConfigError({path + ": malformed JSON: " + e.what()});
  }
  if (!file.is_object()) {
    throw ConfigError({path + ": not a JSON object"});
  }
  return file;
}

const char* ConfigReader::Env(const char* env_name) const {
  if (env_name == nullptr || !env_) {
    return nullptr;
  }
  const char* value = env_(env_name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

void ConfigReader::RefuseUnread(const std::string& where) { RefuseUnread(file_, "", where); }

void ConfigReader::RefuseUnread(const nlohmann::json& object, const std::string& prefix,
                                const std::string& where) {
  for (const auto& [name, value] : object.items()) {
    const std::string key = prefix + name;
    if (std::find(keys_.begin(), keys_.end(), key) != keys_.end()) {
      continue;
    }
    const bool holds_reads = std::any_of(keys_.begin(), keys_.end(), [&](const std::string& read) {
      return read.size() > key.size() && read.starts_with(key) && read[key.size()] == '.';
    });
    if (!holds_reads) {
      problems_.push_back(where + key + ": unknown setting");
    } else if (!value.is_object()) {
      problems_.push_back(where + key + ": must be an object");
    } else {
      RefuseUnread(value, key + ".", where);
    }
  }
}

const nlohmann::json* ConfigReader::Find(std::string_view key) {
  if (key.empty()) {
    return nullptr;
  }
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) {
    keys_.emplace_back(key);
  }
  const nlohmann::json* at = &file_;
  for (std::size_t begin = 0; begin <= key.size();) {
    std::size_t dot = key.find('.', begin);
    if (dot == std::string_view::npos) {
      dot = key.size();
    }
    if (!at->is_object()) {
      return nullptr;
    }
    auto it = at->find(std::string(key.substr(begin, dot - begin)));
    if (it == at->end()) {
      return nullptr;
    }
    at = &*it;
    begin = dot + 1;
  }
  return at;
}

void ConfigReader::String(std::string_view key, const char* env_name, std::string& out) {
  if (const nlohmann::json* value = Find(key)) {
    if (value->is_string()) {
      out = value->get<std::string>();
    } else {
      problems_.push_back(std::string(key) + ": must be a string");
    }
  }
  if (const char* text = Env(env_name)) {
    out = text;
  }
}

bool ConfigReader::ReadInt(std::string_view key, const char* env_name, long long min, long long max,
                           long long& out) {
  std::optional<long long> value;
  std::string source;
  if (const nlohmann::json* found = Find(key)) {
    if (found->is_number_integer()) {
      value = found->get<long long>();
      source = key;
    } else {
      problems_.push_back(std::string(key) + ": must be an integer");
    }
  }
  if (const char* text = Env(env_name)) {
    const char* end = text + std::char_traits<char>::length(text);
    long long parsed = 0;
    auto [ptr, ec] = std::from_chars(text, end, parsed);
    if (ec != std::errc() || ptr != end) {
      problems_.push_back(std::string(env_name) + ": not an integer: " + text);
      return false;
    }
    value = parsed;
    source = env_name;
  }
  if (!value) {
    return false;
  }
  if (*value < min || *value > max) {
    problems_.push_back(source + ": " + std::to_string(*value) + " is outside " + std::to_string(min) + ".." +
                        std::to_string(max));
    return false;
  }
  out = *value;
  return true;
}

void ConfigReader::Double(std::string_view key, const char* env_name, double min, double max, double& out) {
  std::optional<double> value;
  std::string source;
  if (const nlohmann::json* found = Find(key)) {
    if (found->is_number()) {
      value = found->get<double>();
      source = key;
    } else {
      problems_.push_back(std::string(key) + ": must be a number");
    }
  }
  if (const char* text = Env(env_name)) {
    const char* end = text + std::char_traits<char>::length(text);
    double parsed = 0;
    auto [ptr, ec] = std::from_chars(text, end, parsed);
    if (ec != std::errc() || ptr != end || !std::isfinite(parsed)) {
      problems_.push_back(std::string(env_name) + ": not a number: " + text);
      return;
    }
    value = parsed;
    source = env_name;
  }
  if (!value) {
    return;
  }
  if (*value < min || *value > max) {
    problems_.push_back(source + ": " + DoubleText(*value) + " is outside " + DoubleText(min) + ".." +
                        DoubleText(max));
    return;
  }
  out = *value;
}

}  // namespace iot

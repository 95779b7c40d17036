#include "iot/common/config.hpp"

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

}  // namespace

ConfigError::ConfigError(const std::vector<std::string>& problems)
    : std::runtime_error(JoinProblems(problems)), problems_(problems) {}

std::string ConfigPathFromArgs(int argc, const char* const* argv, const std::string& program) {
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      path = std::string(arg.substr(9));
    } else {
      throw ConfigError({"unknown argument " + std::string(arg) + " (usage: " + program + " [--config path])"});
    }
  }
  return path;
}

}  // namespace iot

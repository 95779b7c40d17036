// iot-api: reads the command line and the configuration and runs the App (app.hpp) until SIGTERM/SIGINT.
// Exit codes: 0 clean shutdown, 2 bad command line or configuration, 1 failure to start.
#include <cstdlib>
#include <iostream>

#include "app.hpp"
#include "config.hpp"
#include "iot/cli/command_line.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"

namespace {
constexpr std::string_view kLog = "api.main";
}  // namespace

int main(int argc, char** argv) {
  using namespace iot;  // NOLINT(google-build-using-namespace): main only
  std::string path;
  if (auto exit_code = cli::ParseServiceCommandLine(
          argc, argv, "iot-api", "The REST API, web console and device control of the IoT platform.", path)) {
    return *exit_code;
  }
  api::Config config;
  try {
    config = api::LoadConfig(path, [](const char* name) { return std::getenv(name); });
  } catch (const api::ConfigError& e) {
    IOT_LOG_ERROR(kLog, "msg=\"invalid configuration\" error=" << log::Quote(e.what()));
    return 2;
  }
  log::Level level{};
  log::ParseLevel(config.log_level, level);
  log::SetLevel(level);
  log::Format format = log::Format::kLogfmt;
  log::ParseFormat(config.log_format, format);
  log::SetFormat(format);
  if (auto problem = api::App::ConfigProblem(config)) {
    IOT_LOG_ERROR(kLog, "msg=\"invalid configuration\" error=" << log::Quote(*problem));
    return 2;
  }

  try {
    api::App app(std::move(config));
    if (!app.Start()) {
      return 1;
    }
    app.Run();
    app.Stop();
  } catch (const std::exception& e) {
    IOT_LOG_ERROR(kLog, "msg=\"fatal\" what=" << log::Quote(e.what()));
    return 1;
  }
  return 0;
}

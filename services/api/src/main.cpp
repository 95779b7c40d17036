// iot-api: reads the configuration and runs the App (app.hpp) until SIGTERM/SIGINT.
// Exit codes: 0 clean shutdown, 2 bad configuration, 1 failure to start.
#include <cstdlib>
#include <iostream>

#include "app.hpp"
#include "config.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"

int main(int argc, char** argv) {
  using namespace iot;  // NOLINT(google-build-using-namespace): main only
  api::Config config;
  try {
    config = api::LoadConfig(api::ConfigPathFromArgs(argc, argv),
                             [](const char* name) { return std::getenv(name); });
  } catch (const api::ConfigError& e) {
    std::cerr << "iot-api: " << e.what() << "\n";
    return 2;
  }
  log::Level level{};
  log::ParseLevel(config.log_level, level);
  log::SetLevel(level);
  log::Format format = log::Format::kLogfmt;
  log::ParseFormat(config.log_format, format);
  log::SetFormat(format);
  if (auto problem = api::App::ConfigProblem(config)) {
    std::cerr << "iot-api: " << *problem << "\n";
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
    IOT_LOG_ERROR("api.main", "msg=\"fatal\" what=" << log::Quote(e.what()));
    return 1;
  }
  return 0;
}

// iot-gateway: consumes everything devices publish (Alink over MQTT), validates it against the
// product's thing model, stores it in PostgreSQL and answers after the commit.
#include <signal.h>

#include <cstdlib>
#include <iostream>

#include "config.hpp"
#include "gateway.hpp"
#include "iot/cli/command_line.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"

int main(int argc, char** argv) {
  using namespace iot;  // NOLINT(google-build-using-namespace): main only
  std::string config_path;
  if (auto exit_code = cli::ParseServiceCommandLine(
          argc, argv, "iot-gateway",
          "Takes what devices publish over MQTT, checks it against the thing model, stores it and answers.",
          config_path)) {
    return *exit_code;
  }
  gateway::Config config;
  try {
    config = gateway::LoadConfig(config_path, [](const char* name) { return std::getenv(name); });
  } catch (const gateway::ConfigError& e) {
    std::cerr << "iot-gateway: " << e.what() << "\n";
    return 2;
  }
  log::Level level = log::Level::kInfo;
  log::ParseLevel(config.log_level, level);
  log::SetLevel(level);
  log::Format format = log::Format::kLogfmt;
  log::ParseFormat(config.log_format, format);
  log::SetFormat(format);

  // Signals are taken by sigwait on this thread only; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  gateway::Gateway app(config);
  if (!app.Start()) {
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  IOT_LOG_INFO("gateway", "msg=\"stopping\" signal=" << sig);
  app.Stop();
  return 0;
}

// iot-api: wiring only. Reads config, builds the object graph, serves until SIGTERM/SIGINT.
// Exit codes: 0 clean shutdown, 2 bad configuration, 1 failure to start.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "config.hpp"
#include "http/auth.hpp"
#include "http/dispatcher.hpp"
#include "http/metrics.hpp"
#include "http/operations.hpp"
#include "http/router.hpp"
#include "iot/common/log.hpp"
#include "transport/server.hpp"

namespace {

constexpr std::string_view kLog = "api.main";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  iot::api::Config config;
  try {
    const std::string path = iot::api::ConfigPathFromArgs(argc, argv);
    config = iot::api::LoadConfig(path, [](const char* name) { return std::getenv(name); });
  } catch (const iot::api::ConfigError& e) {
    std::cerr << "iot-api: " << e.what() << "\n";
    return 2;
  }
  iot::log::Level level{};
  iot::log::ParseLevel(config.log_level, level);
  iot::log::SetLevel(level);

  try {
    iot::api::MetricsRegistry metrics;
    iot::api::StaticTokenAuthenticator bootstrap_tokens;
    if (!config.admin_token.empty()) {
      bootstrap_tokens.Add(config.admin_token, {.name = "bootstrap-admin", .role = iot::api::Role::kAdmin});
    } else {
      IOT_LOG_WARN(kLog, "msg=\"IOT_ADMIN_TOKEN is not set: no token is accepted\"");
    }
    // The store-backed authenticator joins here later: ChainAuthenticator(bootstrap_tokens, store_tokens).
    iot::api::Router router(bootstrap_tokens);
    iot::api::Readiness readiness;  // DB and broker probes are added when those components exist
    iot::api::AddOperationsRoutes(router, readiness, metrics, ReadFile(config.openapi_path));
    iot::api::Dispatcher dispatcher(router, metrics);

    iot::api::Server server(config.http, dispatcher, metrics);
    server.Start();
    server.Run();
  } catch (const std::exception& e) {
    IOT_LOG_ERROR(kLog, "msg=\"fatal\" what=" << iot::log::Quote(e.what()));
    return 1;
  }
  return 0;
}

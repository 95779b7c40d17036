// The web console in a real browser against the real platform: a database with the schema, Mosquitto with
// the plugin, iot-gateway and iot-api (serving the console built into <build>/web), driven by
// tests/browser/console.test.mjs (playwright-core + Debian's chromium) with a simulated MQTT device.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/process.hpp"

using namespace std::chrono_literals;

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Single quotes for the shell.
std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

}  // namespace

TEST_CASE("Console: sign in, model, devices, live data and device control in chromium",
          "[integration][console][browser]") {
  const std::string web_dir = EnvOr("IOT_WEB_DIR", IOT_WEB_BUILD_DIR);
  const std::string chromium = EnvOr("IOT_CHROMIUM", "/usr/bin/chromium");
  INFO("web console in " << web_dir << " (built by web/build.sh), browser " << chromium);
  REQUIRE(std::filesystem::exists(web_dir + "/index.html"));
  REQUIRE(std::filesystem::exists(chromium));

  iot::gateway::itest::Stack stack;  // also holds a product of its own (a1GwTest001), as a real install would
  iot::gateway::itest::GatewayProcess gateway(stack, "gw-console");
  REQUIRE(gateway.WaitConnected(20s));
  iot::api::itest::ApiProcess api({{"IOT_WEB_DIR", web_dir},
                                   {"IOT_MQTT_HOST", "127.0.0.1"},
                                   {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                   {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                   {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                                   {"IOT_LOG_LEVEL", "info"}},
                                  stack.Dsn());

  const std::string log = iot::testing::MakeTempDir("console") + "/browser.log";
  const std::string command =
      "IOT_CONSOLE_URL=" + Quote("http://127.0.0.1:" + std::to_string(api.Port())) +
      " IOT_CONSOLE_TOKEN=" + Quote(iot::api::itest::kAdminToken) +
      " IOT_CONSOLE_MQTT_URL=" + Quote("mqtt://127.0.0.1:" + std::to_string(stack.Broker().Port())) +
      " IOT_SCREENSHOT_DIR=" + Quote(EnvOr("IOT_SCREENSHOT_DIR", IOT_SCREENSHOTS_DEFAULT)) +
      " IOT_FIXTURES_DIR=" + Quote(IOT_FIXTURES_DIR) + " IOT_CHROMIUM=" + Quote(chromium) +
      " timeout 240 node " + Quote(IOT_BROWSER_TEST);
  const int rc = iot::testing::RunShell(command, log);
  const std::string output = ReadAll(log);
  // The failed steps first: a CI log cut in the middle still shows which step failed and why.
  std::string failed_steps;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  failed: ", 0) == 0) {
      failed_steps += line + "\n";
    }
  }
  if (!failed_steps.empty()) {
    UNSCOPED_INFO("failed browser steps:\n" << failed_steps);
  }
  UNSCOPED_INFO("browser test output:\n" << output);
  if (rc != 0) {
    UNSCOPED_INFO("iot-api log:\n" << api.Log() << "\niot-gateway log:\n" << gateway.LogTail());
  }
  CHECK(rc == 0);
  // Every step printed its result; the summary line is the last thing the script prints.
  CHECK(output.find("console browser steps:") != std::string::npos);
}

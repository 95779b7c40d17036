#include "config.hpp"

#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include <catch2/catch.hpp>

using iot::gateway::ConfigError;
using iot::gateway::LoadConfig;

namespace {
iot::gateway::EnvLookup Env(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}
}  // namespace

TEST_CASE("Config: environment with defaults", "[gateway][config]") {
  auto c = LoadConfig(
      "",
      Env({{"IOT_PG_DSN", "postgresql://x"}, {"IOT_MQTT_PORT", "1999"}, {"IOT_GATEWAY_SHARE_GROUP", "g1"}}));
  CHECK(c.pg_dsn == "postgresql://x");
  CHECK(c.mqtt_port == 1999);
  CHECK(c.share_group == "g1");
  CHECK(c.mqtt_username == "iot-gateway");
  CHECK(c.reply_qos == 0);
  CHECK(c.device_rate == 100);
  CHECK(c.client_id.starts_with("iot-gateway-"));
}

TEST_CASE("Config: an empty variable is unset, as in iot-api", "[gateway][config]") {
  auto c = LoadConfig("", Env({{"IOT_PG_DSN", "postgresql://x"},
                               {"IOT_MQTT_USERNAME", ""},
                               {"IOT_GATEWAY_WORKERS", ""},
                               {"IOT_GATEWAY_DEVICE_RATE", ""}}));
  CHECK(c.mqtt_username == "iot-gateway");
  CHECK(c.workers == 2);
  CHECK(c.device_rate == 100);
  try {
    LoadConfig(
        "", Env({{"IOT_PG_DSN", "postgresql://x"}, {"IOT_MQTT_PORT", "x"}, {"IOT_GATEWAY_REPLY_QOS", "2"}}));
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.Problems() == std::vector<std::string>{"IOT_MQTT_PORT: not an integer: x",
                                                   "IOT_GATEWAY_REPLY_QOS: 2 is outside 0..1"});
  }
}

TEST_CASE("Config: file - then environment wins", "[gateway][config]") {
  const std::string path = "/tmp/iot-gateway-config-test-" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream out(path);
    out << R"({"pg_dsn":"file-dsn","batch_max":100,"workers":3})";
  }
  auto c = LoadConfig(path, Env({{"IOT_GATEWAY_BATCH_MAX", "200"}}));
  CHECK(c.pg_dsn == "file-dsn");
  CHECK(c.batch_max == 200);
  CHECK(c.workers == 3);
}

TEST_CASE("Config: every problem is reported", "[gateway][config]") {
  try {
    LoadConfig("", Env({{"IOT_MQTT_PORT", "x"},
                        {"IOT_GATEWAY_QUEUE_HIGH", "100"},
                        {"IOT_GATEWAY_QUEUE_LOW", "200"},
                        {"IOT_GATEWAY_SHARE_GROUP", "a/b"},
                        {"IOT_LOG_LEVEL", "loud"},
                        {"IOT_GATEWAY_REPLY_QOS", "2"}}));
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(e.Problems().size() == 6);  // port, qos, dsn, group, low>=high, level
  }
}

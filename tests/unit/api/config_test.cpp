#include "config.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "openapi_document.hpp"

namespace {

iot::api::EnvLookup Env(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

std::string WriteTemp(const std::string& text) {
  static int n = 0;
  const std::string path =
      "/tmp/iot-api-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".json";
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("Config: defaults without file or environment", "[api][config]") {
  auto config = iot::api::LoadConfig("", Env({}));
  CHECK(config.http.port == 8080);
  // Plain HTTP on loopback, HTTPS (when a certificate is given) and operations as documented.
  CHECK(config.http.bind_address == "127.0.0.1");
  CHECK(config.http.https_bind_address == "0.0.0.0");
  CHECK(config.http.https_port == 8443);
  CHECK(config.http.ops_bind_address == "127.0.0.1");
  CHECK(config.http.ops_port == 0);
  CHECK(config.http.max_connections_per_client == 256);
  CHECK(config.token_default_ttl_days == 90);
  CHECK(config.auth_failures_per_minute == 60);
  CHECK(config.http.trusted_proxies.empty());
  CHECK(config.http.max_connections == 10000);
  CHECK(config.http.body_limit == 1024 * 1024);
  CHECK(config.http.header_limit == 8 * 1024);
  CHECK(config.http.read_timeout == std::chrono::seconds(30));
  CHECK(config.openapi_path.empty());  // the embedded document
}

TEST_CASE("Config: file values, then environment overrides", "[api][config]") {
  const auto path =
      WriteTemp(R"({"http":{"port":9000,"threads":4,"readTimeoutMs":1500},"logLevel":"debug"})");
  auto config = iot::api::LoadConfig(path, Env({{"IOT_HTTP_PORT", "9100"},
                                                {"IOT_ADMIN_TOKEN", "0123456789abcdef01"},
                                                {"IOT_PG_DSN", "postgresql://x/y"}}));
  CHECK(config.http.port == 9100);
  CHECK(config.http.threads == 4);
  CHECK(config.http.read_timeout == std::chrono::milliseconds(1500));
  CHECK(config.log_level == "debug");
  CHECK(config.admin_token == "0123456789abcdef01");
  CHECK(config.pg_dsn == "postgresql://x/y");
  std::remove(path.c_str());
}

TEST_CASE("Config: every bad field is reported together", "[api][config]") {
  const auto path = WriteTemp(R"({"http":{"port":"80","colour":1},"logLevel":"loud"})");
  try {
    iot::api::LoadConfig(path, Env({}));
    FAIL("expected ConfigError");
  } catch (const iot::api::ConfigError& e) {
    // Wrong type, bad value and unknown key, all in one go.
    CHECK(e.Problems() ==
          std::vector<std::string>{"http.port: must be an integer", path + ": http.colour: unknown setting",
                                   "logLevel / IOT_LOG_LEVEL: must be debug, info, warn or error"});
  }
  std::remove(path.c_str());
  try {
    iot::api::LoadConfig("", Env({{"IOT_HTTP_PORT", "70000"},
                                  {"IOT_HTTP_THREADS", "x"},
                                  {"IOT_HTTP_BIND", "localhost"},
                                  {"IOT_TLS_CERT", "/nonexistent.pem"},
                                  {"IOT_LOG_LEVEL", "loud"},
                                  {"IOT_ADMIN_TOKEN", "short"}}));
    FAIL("expected ConfigError");
  } catch (const iot::api::ConfigError& e) {
    const std::string text = e.what();
    for (const char* name : {"IOT_HTTP_PORT", "IOT_HTTP_THREADS", "IOT_HTTP_BIND", "IOT_TLS_KEY",
                             "/nonexistent.pem", "IOT_LOG_LEVEL", "IOT_ADMIN_TOKEN"}) {
      INFO(name);
      CHECK(text.find(name) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(iot::api::LoadConfig("/nonexistent/config.json", Env({})), iot::api::ConfigError);
}

// The file's schema is the loader's reads: every key LoadConfig reads is accepted in a file (a key missing
// from a hand-kept list would be refused here as an unknown setting) and reaches the configuration.
TEST_CASE("Config: a config file may hold every key the loader reads, and nothing else", "[api][config]") {
  const std::vector<std::string> keys = iot::api::ConfigFileKeys();
  for (const char* key :
       {"http.port", "http.tlsKey", "logFormat", "scriptCpuMs", "scriptMemoryMb", "dryRunDsn",
        "dryRunRowsPerS", "streamQueueMessages", "streamQueueBytes", "trustedProxies"}) {
    INFO(key);
    CHECK(std::find(keys.begin(), keys.end(), key) != keys.end());
  }
  for (const std::string& key : keys) {
    // A value of the wrong type for every kind of setting: the reader names the key, no "unknown setting".
    nlohmann::json file = nlohmann::json::object();
    const auto dot = key.find('.');
    if (dot == std::string::npos) {
      file[key] = nlohmann::json::array();
    } else {
      file[key.substr(0, dot)][key.substr(dot + 1)] = nlohmann::json::array();
    }
    const auto path = WriteTemp(file.dump());
    INFO(file.dump());
    try {
      iot::api::LoadConfig(path, Env({}));
      FAIL("expected ConfigError");
    } catch (const iot::api::ConfigError& e) {
      REQUIRE(e.Problems().size() == 1);
      CHECK(e.Problems()[0].starts_with(key + ": must be a"));
    }
    std::remove(path.c_str());
  }
  const auto path = WriteTemp(
      R"({"logFormat":"json","scriptCpuMs":7,"scriptMemoryMb":9,"dryRunDsn":"postgresql://dry/run",)"
      R"("dryRunRowsPerS":11,"streamQueueMessages":13,"streamQueueBytes":4096,"http":{"port":9001}})");
  const auto config = iot::api::LoadConfig(path, Env({}));
  CHECK(config.log_format == "json");
  CHECK(config.control.script_cpu_ms == 7);
  CHECK(config.control.script_memory_mb == 9);
  CHECK(config.dry_run_dsn == "postgresql://dry/run");
  CHECK(config.dry_run_rows_per_s == 11);
  CHECK(config.stream_queue_messages == 13);
  CHECK(config.stream_queue_bytes == 4096);
  CHECK(config.http.port == 9001);
  std::remove(path.c_str());
  const auto odd = WriteTemp(R"({"http":5,"scriptCpuMS":7})");
  try {
    iot::api::LoadConfig(odd, Env({}));
    FAIL("expected ConfigError");
  } catch (const iot::api::ConfigError& e) {
    CHECK(e.Problems() == std::vector<std::string>{odd + ": http: must be an object",
                                                   odd + ": scriptCpuMS: unknown setting"});
  }
  std::remove(odd.c_str());
}

TEST_CASE("Config: an empty variable is unset, as in iot-gateway", "[api][config]") {
  const auto path = WriteTemp(R"({"http":{"port":9000},"mqttUsername":"from-file"})");
  auto config = iot::api::LoadConfig(path, Env({{"IOT_HTTP_PORT", ""},
                                                {"IOT_HTTP_BIND", ""},
                                                {"IOT_MQTT_USERNAME", ""},
                                                {"IOT_ADMIN_TOKEN", ""}}));
  CHECK(config.http.port == 9000);
  CHECK(config.http.bind_address == "127.0.0.1");
  CHECK(config.control.mqtt_username == "from-file");
  CHECK(config.admin_token.empty());
  std::remove(path.c_str());
  try {
    iot::api::LoadConfig("", Env({{"IOT_HTTP_PORT", "x"}, {"IOT_HTTP_THREADS", "0"}}));
    FAIL("expected ConfigError");
  } catch (const iot::api::ConfigError& e) {
    CHECK(e.Problems() == std::vector<std::string>{"IOT_HTTP_PORT: not an integer: x",
                                                   "IOT_HTTP_THREADS: 0 is outside 1..256"});
  }
}

TEST_CASE("Config: the example deploy config is valid", "[api][config]") {
  auto config = iot::api::LoadConfig(IOT_SOURCE_DIR "/services/api/config.example.json", Env({}));
  CHECK(config.http.port == 8080);
}

TEST_CASE("Config: trusted proxies and the public base URL", "[api][config]") {
  auto config = iot::api::LoadConfig("", Env({{"IOT_TRUSTED_PROXIES", " 10.0.0.1, ::1 ,172.16.0.0/12"},
                                              {"IOT_PUBLIC_BASE_URL", "https://iot.example.com/"}}));
  CHECK(config.http.trusted_proxies == std::vector<std::string>{"10.0.0.1", "::1", "172.16.0.0/12"});
  CHECK(config.public_base_url == "https://iot.example.com");
  try {
    iot::api::LoadConfig(
        "", Env({{"IOT_TRUSTED_PROXIES", "proxy.local"}, {"IOT_PUBLIC_BASE_URL", "iot.example.com"}}));
    FAIL("expected ConfigError");
  } catch (const iot::api::ConfigError& e) {
    const std::string what = e.what();
    CHECK(what.find("IOT_TRUSTED_PROXIES") != std::string::npos);
    CHECK(what.find("IOT_PUBLIC_BASE_URL") != std::string::npos);
  }
}

TEST_CASE("Config: the OpenAPI document is embedded, and a given file that is missing or empty fails loudly",
          "[api][config]") {
  const auto embedded = nlohmann::json::parse(iot::api::LoadOpenApiDocument(""));
  CHECK(embedded.contains("openapi"));
  CHECK(embedded["paths"].contains("/products"));
  CHECK(iot::api::LoadOpenApiDocument("") == iot::api::EmbeddedOpenApiDocument());
  CHECK_THROWS_WITH(iot::api::LoadOpenApiDocument("/nonexistent/openapi.json"),
                    Catch::Contains("cannot read the OpenAPI document /nonexistent/openapi.json"));
  CHECK_THROWS_WITH(iot::api::LoadOpenApiDocument(WriteTemp("")), Catch::Contains("not an OpenAPI document"));
  CHECK_THROWS_WITH(iot::api::LoadOpenApiDocument(WriteTemp("{\"a\":1}")),
                    Catch::Contains("not an OpenAPI document"));
  const auto given = WriteTemp(R"({"openapi":"3.0.3","paths":{}})");
  CHECK(iot::api::LoadOpenApiDocument(given) == R"({"openapi":"3.0.3","paths":{}})");
}

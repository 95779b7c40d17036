// The examples, run against the real platform (API, broker with the plugin, gateway, PostgreSQL):
// examples/quickstart.sh from nothing to a lamp posting and an operator invoking Blink (with the Python
// and the C++ lamp), Alibaba's official Node SDK (examples/node) over TCP, TLS and WebSocket (ws, wss), the
// Python lamp over TCP and WebSocket (ws, wss). Each device must come online, post its state (stored: the
// API's latest properties read it from PostgreSQL), obey a property set and answer the Blink service invoked
// over REST. Programs are started through /usr/bin/env (ChildProcess execs without a PATH search).

#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

const std::string kAdmin = iot::api::itest::kAdminToken;

struct Platform {
  iot::gateway::itest::Stack stack{iot::store::ValidationMode::kWeak, false, /*websockets=*/true};
  std::unique_ptr<iot::gateway::itest::GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;

  Platform() {
    gateway = std::make_unique<iot::gateway::itest::GatewayProcess>(stack, "gw-examples");
    REQUIRE(gateway->WaitConnected(10s));
    api = std::make_unique<iot::api::itest::ApiProcess>(
        iot::api::itest::Env{{"IOT_MQTT_HOST", "127.0.0.1"},
                             {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                             {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                             {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                             {"IOT_ONLINE_GRACE_MS", "100"}},
        stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }

  iot::testing::HttpResponse Call(const std::string& method, const std::string& target,
                                  const json& body = nullptr) {
    iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + kAdmin}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1" + target, headers, text);
  }

  // Sets LightSwitch and invokes Blink; both must reach the device and come back answered.
  void Operate(const std::string& pk, const std::string& dn) {
    const std::string device = "/products/" + pk + "/devices/" + dn;
    REQUIRE(iot::testing::PollUntil(
        [&] { return Call("GET", device).body.find("\"online\"") != std::string::npos; }, 20s, 100ms));
    // The device posted its state, stored as history (PostgreSQL, through the gateway's writer).
    REQUIRE(iot::testing::PollUntil(
        [&] { return Call("GET", device + "/properties").body.find("Brightness") != std::string::npos; }, 20s,
        100ms));
    REQUIRE(iot::testing::PollUntil(
        [&] {
          return !json::parse(Call("GET", device + "/properties/Brightness/history").body)["items"].empty();
        },
        10s, 100ms));
    auto set = Call("POST", device + "/properties", {{"params", {{"LightSwitch", 1}}}});
    INFO(set.body);
    REQUIRE(set.status == 202);
    auto blink = Call("POST", device + "/services/Blink", {{"params", {{"Times", 3}}}});
    INFO(blink.body);
    REQUIRE(blink.status == 202);
    for (const auto& call : {json::parse(set.body), json::parse(blink.body)}) {
      json last;
      CHECK(iot::testing::PollUntil(
          [&] {
            last =
                json::parse(Call("GET", device + "/service-calls/" + call["callId"].get<std::string>()).body);
            return last["status"] == "succeeded";
          },
          15s, 100ms));
      INFO(last.dump());
      if (call["identifier"] == "Blink") {
        CHECK(last["output"]["Blinked"] == 3);
      }
    }
    // The lamp reported the switch it was given.
    CHECK(iot::testing::PollUntil(
        [&] {
          auto latest = json::parse(Call("GET", device + "/properties").body);
          for (const auto& item : latest["items"]) {
            if (item["identifier"] == "LightSwitch" && item["value"] == 1) return true;
          }
          return false;
        },
        15s, 100ms));
  }

  std::string Secret(const std::string& pk, const std::string& dn) {
    return json::parse(Call("GET", "/products/" + pk + "/devices/" + dn).body)["deviceSecret"];
  }
};

std::string Examples() { return IOT_EXAMPLES_DIR; }

}  // namespace

TEST_CASE("Examples: quickstart.sh takes a new user from nothing to a lamp an operator controls",
          "[integration][examples]") {
  Platform platform;
  INFO(platform.api->Log());
  for (const std::string lamp : {"python", "cpp"}) {
    const std::string dn = "lamp-" + lamp;
    INFO(lamp);
    iot::testing::ChildProcess quickstart(
        {"/usr/bin/env", "bash", Examples() + "/quickstart.sh"},
        {{"IOT_API", "http://127.0.0.1:" + std::to_string(platform.api->Port())},
         {"IOT_ADMIN_TOKEN", kAdmin},
         {"IOT_DEVICE_NAME", dn},
         {"IOT_MQTT_URI", platform.stack.Broker().Uri()},
         {"IOT_LAMP", lamp},
         {"IOT_BUILD_DIR", IOT_BUILD_DIR},
         {"IOT_RUN_SECONDS", "40"},
         {"IOT_PYTHON", "/usr/bin/python3"}},  // Debian's, with python3-paho-mqtt
        iot::testing::MakeTempDir("quickstart") + "/quickstart-" + lamp + ".log");
    quickstart.Start();
    INFO(quickstart.LogTail());
    platform.Operate("lamp0001", dn);
    INFO(quickstart.LogTail());
    CHECK(quickstart.LogContains("published version"));
    quickstart.Stop(2s);
  }
  // The model as shipped: the three identifiers the lamp needs.
  auto model = json::parse(platform.Call("GET", "/products/lamp0001/thing-model").body);
  INFO(model.dump());
  CHECK(model.dump().find("\"LightSwitch\"") != std::string::npos);
  CHECK(model.dump().find("\"Blink\"") != std::string::npos);
}

TEST_CASE(
    "Examples: Alibaba's Node SDK (unmodified) over TCP, TLS, ws and wss, the Python lamp over TCP, ws and "
    "wss",
    "[integration][examples][node]") {
  Platform platform;
  INFO(platform.api->Log());
  REQUIRE(platform.Call("POST", "/products", {{"name", "Lamp"}, {"productKey", "lamp0001"}}).status == 201);
  std::ifstream in(Examples() + "/lamp/model.json");
  std::stringstream model;
  model << in.rdbuf();
  auto put = iot::testing::HttpRequest(
      platform.api->Port(), "PUT", "/api/v1/products/lamp0001/thing-model",
      {{"Authorization", "Bearer " + kAdmin}, {"Content-Type", "application/json"}}, model.str());
  REQUIRE(put.status == 200);
  REQUIRE(platform.Call("POST", "/products/lamp0001/thing-model/publish").status == 201);

  const auto& broker = platform.stack.Broker();
  struct Run {
    std::string name;
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
  };
  std::vector<Run> runs = {
      {"node-tcp",
       {"/usr/bin/env", "node", Examples() + "/node/device.js"},
       {{"IOT_BROKER_URL", "mqtt://127.0.0.1:" + std::to_string(broker.Port())}}},
      {"node-ws",
       {"/usr/bin/env", "node", Examples() + "/node/device.js"},
       {{"IOT_BROKER_URL", broker.WsUri()}}},
      {"node-wss",
       {"/usr/bin/env", "node", Examples() + "/node/device.js"},
       {{"IOT_BROKER_URL", broker.WssUri()}, {"NODE_EXTRA_CA_CERTS", broker.CaFile()}}},
      {"node-mqtts",
       {"/usr/bin/env", "node", Examples() + "/node/device.js"},
       {{"IOT_BROKER_URL", "mqtts://" + broker.TlsUri().substr(std::string("ssl://").size())},
        {"NODE_EXTRA_CA_CERTS", broker.CaFile()}}},
      {"py-wss",
       {"/usr/bin/python3", Examples() + "/python/lamp.py"},
       {{"IOT_BROKER", "127.0.0.1:" + std::to_string(broker.WssPort())},
        {"IOT_TRANSPORT", "websockets"},
        {"IOT_TLS_CA", broker.CaFile()}}},
      {"py-ws",
       {"/usr/bin/python3", Examples() + "/python/lamp.py"},
       {{"IOT_BROKER", "127.0.0.1:" + std::to_string(broker.WsPort())}, {"IOT_TRANSPORT", "websockets"}}},
      {"py-tcp",
       {"/usr/bin/python3", Examples() + "/python/lamp.py"},
       {{"IOT_BROKER", "127.0.0.1:" + std::to_string(broker.Port())}}},
  };
  for (auto& run : runs) {
    INFO(run.name);
    REQUIRE(platform.Call("POST", "/products/lamp0001/devices", {{"deviceName", run.name}}).status == 201);
    run.env["IOT_PRODUCT_KEY"] = "lamp0001";
    run.env["IOT_DEVICE_NAME"] = run.name;
    run.env["IOT_DEVICE_SECRET"] = platform.Secret("lamp0001", run.name);
    run.env["IOT_RUN_SECONDS"] = "40";
    iot::testing::ChildProcess device(run.argv, run.env,
                                      iot::testing::MakeTempDir("example") + "/" + run.name + ".log");
    device.Start();
    INFO(device.LogTail());
    platform.Operate("lamp0001", run.name);
    INFO(device.LogTail());
    CHECK((device.LogContains("\"event\": \"connected\"") || device.LogContains("\"event\":\"connected\"")));
    CHECK(device.LogContains("Blink"));
    device.Stop(2s);
  }
}

// iot-devsim end to end: the real binary registers its devices through iot-api, fetches the
// published thing model, posts through Mosquitto (with the plugin) to iot-gateway, and answers
// downlinks; the test checks its --json summary against the database.

#include <fstream>
#include <iostream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/process.hpp"

using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::int64_t Scalar(Stack& stack, const std::string& sql) {
  auto v = stack.Scalar(sql + " AND $1::bigint IS NOT NULL", 0);
  return v ? std::stoll(*v) : 0;
}

// The JSON summary line in the simulator's output (stdout and stderr share the log).
std::optional<json> Summary(const iot::testing::ChildProcess& p) {
  std::ifstream in(p.LogPath());
  std::string line;
  std::optional<json> found;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '{') {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) {
        found = j;
      }
    }
  }
  return found;
}

struct Platform {
  // `https`: iot-api also serves HTTPS with a certificate for 127.0.0.1 (ca_file), and Devsim() uses it.
  // `public_url`: iot-api on a port chosen here, IOT_PUBLIC_BASE_URL pointing at it (OTA download links).
  explicit Platform(bool https = false, bool public_url = false) {
    gateway = std::make_unique<GatewayProcess>(stack, "gw-devsim-itest");
    REQUIRE(gateway->WaitConnected());
    // With the broker configured, iot-api can control devices (issue 6).
    iot::api::itest::Env env{{"IOT_MQTT_HOST", "127.0.0.1"},
                             {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                             {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                             {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret}};
    if (public_url) {
      const int port = iot::testing::FreePort();
      env.insert({{"IOT_HTTP_PORT", std::to_string(port)},
                  {"IOT_PUBLIC_BASE_URL", "http://127.0.0.1:" + std::to_string(port)}});
    }
    if (https) {
      const std::string base = iot::testing::MakeTempDir("devsim-tls") + "/api";
      REQUIRE(iot::testing::RunShell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                                     "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
                                     "-keyout '" +
                                         base + ".key' -out '" + base + ".crt'",
                                     base + ".openssl.log") == 0);
      ca_file = base + ".crt";
      https_port = iot::testing::FreePort();
      env.insert({{"IOT_TLS_CERT", base + ".crt"},
                  {"IOT_TLS_KEY", base + ".key"},
                  {"IOT_HTTPS_PORT", std::to_string(https_port)}});
    }
    api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    if (https) {
      REQUIRE(iot::testing::WaitForPort(https_port, 20s));
    }
  }
  std::string ApiUrl() const {
    return https_port != 0 ? "https://127.0.0.1:" + std::to_string(https_port)
                           : "http://127.0.0.1:" + std::to_string(api->Port());
  }
  iot::testing::HttpResponse Rest(const std::string& method, const std::string& target,
                                  const std::string& body = "") {
    iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}};
    if (!body.empty()) {
      headers.emplace_back("Content-Type", "application/json");
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1" + target, headers, body);
  }
  ~Platform() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n" << gateway->LogTail() << "\n----- api log\n" << api->Log() << "\n";
    }
  }
  iot::testing::ChildProcess Devsim(std::vector<std::string> args) {
    std::vector<std::string> argv = {IOT_DEVSIM_BINARY,    "--api",     ApiUrl(), "--mqtt",
                                     stack.Broker().Uri(), "--product", kPk,      "--json",
                                     "--no-progress"};
    argv.insert(argv.end(), args.begin(), args.end());
    static int n = 0;
    return iot::testing::ChildProcess(
        argv, {{"IOT_ADMIN_TOKEN", iot::api::itest::kAdminToken}},
        iot::testing::MakeTempDir("devsim") + "/devsim-" + std::to_string(n++) + ".log");
  }
  Stack stack;
  std::unique_ptr<GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
  std::string ca_file;
  int https_port = 0;
};

bool WaitExit(iot::testing::ChildProcess& p, std::chrono::seconds timeout) {
  return iot::testing::PollUntil([&] { return !p.Running(); }, timeout, 50ms);
}

}  // namespace

TEST_CASE("Devsim: registers devices and posts valid and invalid values - summary matches the database",
          "[integration][devsim][mqtt][pg]") {
  Platform p;
  const std::string credentials = iot::testing::MakeTempDir("devsim-cred") + "/devices.json";
  auto sim = p.Devsim({"--devices", "3", "--rate", "20", "--duration", "3", "--invalid", "0.25", "--events",
                       "0.2", "--credentials", credentials, "--seed", "7"});
  sim.Start();
  REQUIRE(WaitExit(sim, 60s));
  INFO(sim.LogTail());
  auto summary = Summary(sim);
  REQUIRE(summary);
  const auto& s = *summary;
  CHECK(s["devices"] == 3);
  CHECK(s["connected"] == 3);
  CHECK(s["sent"].get<int>() >= 40);
  CHECK(s["answered"] == s["sent"]);
  CHECK(s["timeouts"] == 0);
  CHECK(s["invalidSent"].get<int>() > 0);
  CHECK(s["refused"] == s["invalidSent"]);  // every invalid post, and only those, refused
  CHECK(s["accepted"].get<int>() + s["refused"].get<int>() == s["answered"].get<int>());
  CHECK_FALSE(s["refusalsByCode"].empty());
  CHECK(s["latencyMs"]["p50"].get<double>() > 0);
  CHECK(s["latencyMs"]["max"].get<double>() >= s["latencyMs"]["p99"].get<double>());
  CHECK(s["achievedRate"].get<double>() > 0);

  // The devices exist, and the database holds what was answered.
  CHECK(Scalar(p.stack, "SELECT count(*) FROM devices WHERE device_name LIKE 'sim-%'") == 3);
  CHECK(Scalar(p.stack, "SELECT count(*) FROM rejections WHERE true") ==
        s["refusedItems"].get<std::int64_t>());
  const std::int64_t stored_messages =
      Scalar(p.stack,
             "SELECT count(DISTINCT (device_id, extract(epoch from ts))) FROM property_history WHERE true") +
      Scalar(p.stack, "SELECT count(*) FROM events WHERE true");
  CHECK(stored_messages > 0);

  SECTION("a second run reads the saved credentials instead of registering") {
    auto again =
        p.Devsim({"--devices", "3", "--rate", "10", "--duration", "1", "--credentials", credentials});
    again.Start();
    REQUIRE(WaitExit(again, 60s));
    auto s2 = Summary(again);
    REQUIRE(s2);
    CHECK((*s2)["connected"] == 3);
    CHECK((*s2)["answered"] == (*s2)["sent"]);
    CHECK(Scalar(p.stack, "SELECT count(*) FROM devices WHERE true") == 3);
  }
}

TEST_CASE("Devsim: answers property sets and services (async and RRPC) from the thing model",
          "[integration][devsim][mqtt][pg]") {
  Platform p;
  auto sim = p.Devsim({"--devices", "1", "--rate", "2", "--duration", "8", "--answer-delay-ms", "100"});
  sim.Start();
  iot::testing::MqttTestClient api;
  REQUIRE(api.Connect(p.stack.Broker().Uri(), "iot-api-devsim-itest", iot::testing::kApiUser,
                      iot::testing::kApiSecret) == 0);
  REQUIRE(api.Subscribe("/sys/+/+/rrpc/response/+", 1) == 1);
  const std::string base = std::string("/sys/") + kPk + "/sim-0001/";
  // Registered and connected once its first post is stored.
  REQUIRE(iot::testing::PollUntil(
      [&] {
        return Scalar(p.stack, "SELECT count(*) FROM property_history WHERE true") +
                   Scalar(p.stack, "SELECT count(*) FROM events WHERE true") >
               0;
      },
      20s, 100ms));

  REQUIRE(api.Publish(base + "rrpc/request/devsim-1",
                      iot::alink::BuildRequest("501", "thing.service.SelfTest", {{"Depth", 0}})));
  auto response = api.WaitMessage(base + "rrpc/response/devsim-1", 5s);
  REQUIRE(response);
  auto j = json::parse(response->payload);
  CHECK(j["id"] == "501");
  CHECK(j["code"] == 200);
  CHECK((j["data"]["Passed"] == 0 || j["data"]["Passed"] == 1));
  CHECK(j["data"]["Report"].is_string());

  REQUIRE(api.Publish(base + "thing/service/property/set",
                      iot::alink::BuildRequest("502", "thing.service.property.set", {{"FanLevel", 1}})));
  REQUIRE(api.Publish(base + "thing/service/Reboot",
                      iot::alink::BuildRequest("503", "thing.service.Reboot", {{"DelaySec", 1}})));
  REQUIRE(WaitExit(sim, 60s));
  INFO(sim.LogTail());
  auto summary = Summary(sim);
  REQUIRE(summary);
  CHECK((*summary)["downlinks"]["received"] == 3);
  CHECK((*summary)["downlinks"]["answered"] == 3);
}

TEST_CASE("Devsim: answers services and property sets invoked through the REST API",
          "[integration][devsim][mqtt][pg][api]") {
  Platform p;
  auto sim = p.Devsim({"--devices", "1", "--rate", "1", "--duration", "10", "--answer-delay-ms", "50"});
  sim.Start();
  const std::string device = std::string("/products/") + kPk + "/devices/sim-0001";
  // Online once the gateway has applied the broker's lifecycle message.
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto r = p.Rest("GET", device);
        return r.status == 200 && json::parse(r.body).value("status", "") == "online";
      },
      20s, 100ms));

  auto sync = p.Rest("POST", device + "/services/SelfTest", json{{"params", {{"Depth", 1}}}}.dump());
  INFO(sync.body);
  REQUIRE(sync.status == 200);
  auto call = json::parse(sync.body);
  CHECK(call["status"] == "succeeded");
  CHECK(call["callType"] == "sync");
  CHECK(call["output"].contains("Passed"));
  CHECK(call["output"]["Report"].is_string());

  auto async = p.Rest("POST", device + "/services/Reboot", json{{"params", {{"DelaySec", 3}}}}.dump());
  INFO(async.body);
  REQUIRE(async.status == 202);
  const std::string call_id = json::parse(async.body)["callId"].get<std::string>();
  CHECK(iot::testing::PollUntil(
      [&] {
        auto r = p.Rest("GET", device + "/service-calls/" + call_id);
        return r.status == 200 && json::parse(r.body).value("status", "") == "succeeded";
      },
      10s, 100ms));

  auto set = p.Rest("POST", device + "/properties", json{{"params", {{"FanLevel", 2}}}}.dump());
  INFO(set.body);
  REQUIRE(set.status == 202);
  const std::string set_id = json::parse(set.body)["callId"].get<std::string>();
  CHECK(iot::testing::PollUntil(
      [&] {
        auto r = p.Rest("GET", device + "/service-calls/" + set_id);
        return r.status == 200 && json::parse(r.body).value("status", "") == "succeeded";
      },
      10s, 100ms));
  REQUIRE(WaitExit(sim, 60s));
  auto summary = Summary(sim);
  REQUIRE(summary);
  CHECK((*summary)["downlinks"]["answered"] == 3);
}

TEST_CASE("Devsim: registers its devices and fetches the thing model over HTTPS, the certificate verified",
          "[integration][devsim][mqtt][pg][tls]") {
  Platform p(/*https=*/true);
  // Without the CA, the self-signed certificate is refused before anything is sent.
  auto refused = p.Devsim({"--devices", "2", "--duration", "1"});
  refused.Start();
  REQUIRE(WaitExit(refused, 60s));
  CHECK(refused.LogContains("cannot start"));
  CHECK(refused.LogContains("TLS handshake with 127.0.0.1"));
  CHECK(refused.LogContains("certificate"));
  CHECK(Scalar(p.stack, "SELECT count(*) FROM devices WHERE true") == 0);

  auto sim = p.Devsim({"--api-ca", p.ca_file, "--devices", "2", "--rate", "10", "--duration", "2"});
  sim.Start();
  REQUIRE(WaitExit(sim, 60s));
  INFO(sim.LogTail());
  auto summary = Summary(sim);
  REQUIRE(summary);
  CHECK((*summary)["devices"] == 2);
  CHECK((*summary)["connected"] == 2);
  CHECK((*summary)["sent"].get<int>() > 0);
  CHECK((*summary)["answered"] == (*summary)["sent"]);
  CHECK(Scalar(p.stack, "SELECT count(*) FROM devices WHERE device_name LIKE 'sim-%'") == 2);
}

TEST_CASE(
    "Devsim: simulated devices upgrade over OTA, some failing verification, some resuming a cut download",
    "[integration][devsim][ota]") {
  Platform p(false, true);
  std::string package(150000, '\0');
  for (std::size_t i = 0; i < package.size(); ++i) {
    package[i] = static_cast<char>((i * 7919) % 251);
  }
  auto uploaded = iot::testing::HttpRequest(
      p.api->Port(), "POST", "/api/v1/products/" + std::string(kPk) + "/firmwares?version=2.0.0",
      {{"Authorization", "Bearer " + iot::api::itest::kAdminToken},
       {"Content-Type", "application/octet-stream"}},
      package);
  REQUIRE(uploaded.status == 201);
  const std::string firmware_id = json::parse(uploaded.body)["id"].get<std::string>();

  constexpr int kSimulated = 6;
  auto sim = p.Devsim({"--devices", std::to_string(kSimulated), "--rate", "1", "--duration", "30",
                       "--firmware-version", "1.0.0", "--ota-fail-rate", "0.5", "--ota-cut-rate", "0.5",
                       "--seed", "3", "--workers", "4"});
  sim.Start();
  REQUIRE(iot::testing::PollUntil(
      [&] {
        return Scalar(p.stack, "SELECT count(*) FROM device_modules WHERE version = '1.0.0'") == kSimulated;
      },
      30s, 100ms));
  auto created = p.Rest("POST", "/products/" + std::string(kPk) + "/firmwares/" + firmware_id + "/jobs",
                        R"({"target":"all","maxConcurrent":3,"retries":0,"timeoutS":60})");
  REQUIRE(created.status == 201);
  const std::string job = "/products/" + std::string(kPk) + "/firmwares/" + firmware_id + "/jobs/" +
                          json::parse(created.body)["jobId"].get<std::string>();
  json state;
  REQUIRE(iot::testing::PollUntil(
      [&] {
        state = json::parse(p.Rest("GET", job).body);
        return state["state"] == "completed";
      },
      25s, 200ms));
  REQUIRE(WaitExit(sim, 60s));
  INFO(sim.LogTail());
  auto summary = Summary(sim);
  REQUIRE(summary);
  const json& ota = (*summary)["ota"];
  INFO(ota.dump() << " " << state.dump());
  CHECK(ota["pushes"] == kSimulated);
  CHECK(ota["succeeded"].get<int>() + ota["failed"].get<int>() == kSimulated);
  CHECK(ota["failed"].get<int>() > 0);
  CHECK(ota["succeeded"].get<int>() > 0);
  CHECK(ota["resumedRequests"].get<int>() > 0);
  CHECK(state["counts"]["succeeded"] == ota["succeeded"]);
  CHECK(state["counts"]["failed"] == ota["failed"]);
  CHECK(Scalar(p.stack, "SELECT count(*) FROM device_modules WHERE version = '2.0.0'") == ota["succeeded"]);
  CHECK(Scalar(p.stack, "SELECT count(*) FROM ota_tasks WHERE step = -3 AND description = 'md5 mismatch'") ==
        ota["failed"]);
}

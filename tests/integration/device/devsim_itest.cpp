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
      if (!j.is_discarded()) found = j;
    }
  }
  return found;
}

struct Platform {
  Platform() {
    gateway = std::make_unique<GatewayProcess>(stack, "gw-devsim-itest");
    REQUIRE(gateway->WaitConnected());
    api = std::make_unique<iot::api::itest::ApiProcess>(iot::api::itest::Env{}, stack.Dsn());
  }
  ~Platform() {
    if (!Catch::getResultCapture().lastAssertionPassed()) {
      std::cerr << "----- gateway log\n" << gateway->LogTail() << "\n----- api log\n" << api->Log() << "\n";
    }
  }
  iot::testing::ChildProcess Devsim(std::vector<std::string> args) {
    std::vector<std::string> argv = {IOT_DEVSIM_BINARY,
                                     "--api", "http://127.0.0.1:" + std::to_string(api->Port()),
                                     "--mqtt", stack.Broker().Uri(),
                                     "--product", kPk,
                                     "--json", "--no-progress"};
    argv.insert(argv.end(), args.begin(), args.end());
    static int n = 0;
    return iot::testing::ChildProcess(argv, {{"IOT_ADMIN_TOKEN", iot::api::itest::kAdminToken}},
                                      iot::testing::MakeTempDir("devsim") + "/devsim-" +
                                          std::to_string(n++) + ".log");
  }
  Stack stack;
  std::unique_ptr<GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
};

bool WaitExit(iot::testing::ChildProcess& p, std::chrono::seconds timeout) {
  return iot::testing::PollUntil([&] { return !p.Running(); }, timeout, 50ms);
}

}  // namespace

TEST_CASE("Devsim: registers devices, posts valid and invalid values, summary matches the database",
          "[integration][devsim][mqtt][pg]") {
  Platform p;
  const std::string credentials = iot::testing::MakeTempDir("devsim-cred") + "/devices.json";
  auto sim = p.Devsim({"--devices", "3", "--rate", "20", "--duration", "3", "--invalid", "0.25",
                       "--events", "0.2", "--credentials", credentials, "--seed", "7"});
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
  CHECK(Scalar(p.stack, "SELECT count(*) FROM rejections WHERE true") == s["refusedItems"].get<std::int64_t>());
  const std::int64_t stored_messages =
      Scalar(p.stack, "SELECT count(DISTINCT (device_id, extract(epoch from ts))) FROM property_history WHERE true") +
      Scalar(p.stack, "SELECT count(*) FROM events WHERE true");
  CHECK(stored_messages > 0);

  SECTION("a second run reads the saved credentials instead of registering") {
    auto again = p.Devsim({"--devices", "3", "--rate", "10", "--duration", "1", "--credentials", credentials});
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
      [&] { return Scalar(p.stack, "SELECT count(*) FROM property_history WHERE true") +
                   Scalar(p.stack, "SELECT count(*) FROM events WHERE true") > 0; },
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

// OTA jobs through the whole platform: a job created over REST, rolled out by iot-api's job driver
// (lease holder) over the real broker to real MQTT devices, which answer through the real gateway;
// concurrency limit, a retry after a verify failure, a failure with no retry left, a timeout, a device
// offline when the job starts, iot-api restarted mid-job, paged tasks and cancel.

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/alink/ota.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/ota.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "ota/ota_tasks.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Stack;

namespace {

constexpr const char* kBase = "http://iot.test";
constexpr int kDevices = 30;
constexpr int kMaxConcurrent = 5;

std::string Name(int i) { return "job-" + std::string(i < 10 ? "0" : "") + std::to_string(i); }

std::string OtaTopic(const std::string& op, const std::string& dn) {
  return "/ota/device/" + op + "/" + std::string(kPk) + "/" + dn;
}

std::unique_ptr<iot::api::itest::ApiProcess> StartApi(Stack& stack) {
  iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                              {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                              {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                              {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                              {"IOT_PUBLIC_BASE_URL", kBase}};
  auto api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
  REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  return api;
}

iot::testing::HttpResponse Call(iot::api::itest::ApiProcess& api, const std::string& method,
                                const std::string& path, const json& body = nullptr) {
  iot::testing::HttpHeaders headers = {
      {"Authorization", "Bearer " + std::string(iot::api::itest::kAdminToken)}};
  std::string text;
  if (!body.is_null()) {
    headers.emplace_back("Content-Type", "application/json");
    text = body.dump();
  }
  return iot::testing::HttpRequest(api.Port(), method, "/api/v1/products/" + std::string(kPk) + path, headers,
                                   text);
}

// What each simulated device does with a push.
enum class Behaviour { kSucceed, kVerifyFailsOnce, kDownloadFails, kSilent };

struct SimDevice {
  std::string name;
  Behaviour behaviour = Behaviour::kSucceed;
  std::unique_ptr<iot::testing::MqttTestClient> client;
  int pushes = 0;
};

}  // namespace

TEST_CASE(
    "OTA job: rollout under a concurrency limit, retries, failures, timeouts, offline devices and a "
    "restart of iot-api",
    "[integration][ota]") {
  Stack stack;
  for (int i = 0; i < kDevices; ++i) {
    stack.AddDevice(Name(i));
  }
  GatewayProcess gateway(stack, "gw-ota-jobs");
  REQUIRE(gateway.WaitConnected());
  auto api = StartApi(stack);

  std::vector<SimDevice> devices(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    devices[i].name = Name(i);
  }
  devices[25].behaviour = Behaviour::kVerifyFailsOnce;
  devices[26].behaviour = Behaviour::kDownloadFails;
  devices[27].behaviour = Behaviour::kSilent;
  const int offline = 28;  // connects only once the job runs
  for (int i = 0; i < kDevices; ++i) {
    if (i == offline) {
      continue;
    }
    devices[i].client = stack.Connect(devices[i].name);
    REQUIRE(devices[i].client->Subscribe(OtaTopic("upgrade", devices[i].name), 1) <= 1);
    REQUIRE(devices[i].client->Publish(OtaTopic("inform", devices[i].name),
                                       R"({"id":"1","params":{"version":"1.0.0"}})"));
  }

  REQUIRE(iot::testing::PollUntil(
      [&] {
        return stack.Count("SELECT count(*) FROM device_modules WHERE device_id > $1", 0) == kDevices - 1;
      },
      10s, 50ms));

  // The firmware (store: upload over REST is not built yet) and the job over REST.
  std::string bytes(5000, 'f');
  bool given = false;
  auto firmware = iot::store::CreateFirmware(
      stack.Db(), iot::store::FirmwareCreate{.product_key = kPk, .version = "2.0.0"}, 1 << 20,
      [&](char* buffer, std::size_t capacity) -> iot::Result<std::size_t> {
        const std::size_t n = given ? 0 : std::min(capacity, bytes.size());
        std::copy_n(bytes.data(), n, buffer);
        given = true;
        return n;
      });
  REQUIRE(firmware.has_value());
  const std::string jobs = "/firmwares/" + firmware->firmware_id + "/jobs";
  CHECK(Call(*api, "POST", jobs, json{{"target", "list"}}).status == 400);  // a list needs names
  CHECK(Call(*api, "POST", jobs, json{{"target", "all"}, {"maxConcurrent", 0}}).status == 400);
  CHECK(Call(*api, "POST", "/firmwares/" + std::string(32, '0') + "/jobs", json{{"target", "all"}}).status ==
        404);
  auto created =
      Call(*api, "POST", jobs,
           json{{"target", "all"}, {"maxConcurrent", kMaxConcurrent}, {"retries", 1}, {"timeoutS", 4}});
  REQUIRE(created.status == 201);
  json job = json::parse(created.body);
  const std::string job_id = job["jobId"].get<std::string>();
  CHECK(job["state"] == "running");
  CHECK(job["devices"] == kDevices);
  CHECK(job["counts"]["queued"] == kDevices);
  CHECK(job["version"] == "2.0.0");

  // Devices answer their pushes; the number upgrading at once never exceeds the limit.
  bool restarted = false;
  std::int64_t most_active = 0;
  int succeeded = 0;
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (std::chrono::steady_clock::now() < deadline) {
    json state = json::parse(Call(*api, "GET", jobs + "/" + job_id).body);
    if (state["state"] == "completed") {
      break;
    }
    most_active = std::max(most_active, iot::ota::itest::ActiveTasks(stack.Dsn(), job_id));
    if (devices[offline].client == nullptr && succeeded >= 5) {
      devices[offline].client = stack.Connect(devices[offline].name);
      REQUIRE(devices[offline].client->Subscribe(OtaTopic("upgrade", devices[offline].name), 1) <= 1);
    }
    if (!restarted && succeeded >= 10) {
      // A crash mid-job: the next instance takes the lease once it expired (10 s) and carries on.
      api->Process().Kill();
      api.reset();
      api = StartApi(stack);
      restarted = true;
    }
    for (SimDevice& d : devices) {
      if (!d.client) {
        continue;
      }
      auto push = d.client->WaitMessage(OtaTopic("upgrade", d.name), 1ms);
      if (!push) {
        continue;
      }
      ++d.pushes;
      json message = json::parse(push->payload);
      REQUIRE(message["code"] == "1000");
      auto package = iot::alink::DecodeOtaPackage(message["data"]);
      REQUIRE(package.has_value());
      CHECK(package->version == "2.0.0");
      CHECK(package->sign == firmware->sha256);
      CHECK(package->url.rfind(std::string(kBase) + iot::alink::FirmwareFilePath(firmware->firmware_id), 0) ==
            0);
      const std::string progress = OtaTopic("progress", d.name);
      switch (d.behaviour) {
        case Behaviour::kSilent: break;
        case Behaviour::kDownloadFails:
          d.client->Publish(progress, R"({"id":"2","params":{"step":"-2","desc":"connection cut"}})");
          break;
        case Behaviour::kVerifyFailsOnce:
          if (d.pushes == 1) {
            d.client->Publish(progress, R"({"id":"2","params":{"step":"-3","desc":"md5 mismatch"}})");
            break;
          }
          [[fallthrough]];
        case Behaviour::kSucceed:
          d.client->Publish(progress, R"({"id":"3","params":{"step":"60","desc":""}})");
          d.client->Publish(OtaTopic("inform", d.name), R"({"id":"4","params":{"version":"2.0.0"}})");
          ++succeeded;
          break;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  CHECK(restarted);
  CHECK(api->Process().LogContains("driving OTA jobs"));  // the restarted instance took the lease
  CHECK(most_active <= kMaxConcurrent);
  CHECK(most_active >= 1);

  auto final_state = Call(*api, "GET", jobs + "/" + job_id);
  REQUIRE(final_state.status == 200);
  json done = json::parse(final_state.body);
  CHECK(done["state"] == "completed");
  CHECK(done["finishedAt"].is_number());
  CHECK(done["counts"]["succeeded"] == kDevices - 2);
  CHECK(done["counts"]["failed"] == 1);
  CHECK(done["counts"]["timed_out"] == 1);
  CHECK(devices[25].pushes == 2);  // pushed again after its verify failure
  CHECK(devices[26].pushes == 2);
  CHECK(devices[27].pushes == 2);
  CHECK(devices[offline].pushes == 1);

  // Every task, page by page.
  std::map<std::string, json> tasks;
  std::string cursor;
  int pages = 0;
  do {
    auto page = Call(*api, "GET",
                     jobs + "/" + job_id + "/tasks?limit=7" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(page.status == 200);
    json body = json::parse(page.body);
    for (const json& t : body["items"]) {
      tasks[t["deviceName"].get<std::string>()] = t;
    }
    cursor = body["nextCursor"].is_string() ? body["nextCursor"].get<std::string>() : "";
    ++pages;
  } while (!cursor.empty() && pages < 10);
  CHECK(pages == 5);
  REQUIRE(tasks.size() == kDevices);
  CHECK(tasks[Name(0)]["state"] == "succeeded");
  CHECK(tasks[Name(0)]["step"] == 100);
  CHECK(tasks[Name(0)]["srcVersion"] == "1.0.0");
  CHECK(tasks[Name(25)]["state"] == "succeeded");
  CHECK(tasks[Name(25)]["attempts"] == 2);
  CHECK(tasks[Name(26)]["state"] == "failed");
  CHECK(tasks[Name(26)]["step"] == -2);
  CHECK(tasks[Name(26)]["desc"] == "connection cut");
  CHECK(tasks[Name(27)]["state"] == "timed_out");
  CHECK(tasks[Name(offline)]["state"] == "succeeded");
  CHECK(tasks[Name(offline)]["srcVersion"] == "");  // it never informed before the job

  // The firmware cannot go while a job runs; cancel ends a dynamic job and its active tasks.
  auto second = iot::store::CreateFirmware(
      stack.Db(), iot::store::FirmwareCreate{.product_key = kPk, .version = "3.0.0"}, 1 << 20,
      [](char*, std::size_t) -> iot::Result<std::size_t> { return std::size_t{0}; });
  REQUIRE(second.has_value());
  const std::string jobs3 = "/firmwares/" + second->firmware_id + "/jobs";
  auto dynamic =
      Call(*api, "POST", jobs3,
           json{{"target", "tag"}, {"tag", {{"key", "ring"}, {"value", "beta"}}}, {"dynamic", true}});
  REQUIRE(dynamic.status == 201);
  const std::string job3 = json::parse(dynamic.body)["jobId"].get<std::string>();
  CHECK(json::parse(dynamic.body)["devices"] == 0);
  CHECK(iot::store::DeleteFirmware(stack.Db(), kPk, second->firmware_id).error() ==
        iot::store::make_error_code(iot::store::Errc::kConflict));
  CHECK(Call(*api, "GET", jobs + "/" + job3).status == 404);  // not a job of that firmware
  auto cancelled = Call(*api, "POST", jobs3 + "/" + job3 + ":cancel");
  REQUIRE(cancelled.status == 200);
  CHECK(json::parse(cancelled.body)["state"] == "cancelled");
  CHECK(Call(*api, "POST", jobs3 + "/" + job3 + ":cancel").status == 409);
  CHECK(Call(*api, "POST", jobs + "/" + job_id + ":cancel").status == 409);  // completed
}

// An OTA job over 200 devices of the project's device SDK (iot::device, RunOtaUpgrade) through the whole
// platform: the package uploaded over REST, the job rolled out by iot-api's driver with maxConcurrent 20
// over the real broker, each device downloading its package from iot-api's signed link in byte ranges,
// verifying it and reporting progress through the real gateway into PostgreSQL. Injected: devices whose
// package is corrupted (they report -3 until no retry is left), downloads cut mid-way and resumed with
// Range, devices offline when the job starts (they get the push once they connect), and iot-api killed
// mid-job and started again (the successor takes the lease; downloads cut by the crash are retried).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/device/device.hpp"
#include "iot/device/ota.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "ota/ota_tasks.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::kSecret;
using iot::gateway::itest::Stack;

namespace {

constexpr int kDevices = 200;
constexpr int kMaxConcurrent = 20;
constexpr int kCorrupt = 5;   // devices 0..4: their package arrives corrupted every time
constexpr int kCutFirst = 5;  // devices 5..14: the download is cut once, then resumed
constexpr int kCutLast = 14;
constexpr int kOfflineFirst = 190;  // devices 190..194: offline when the job starts
constexpr int kOfflineLast = 194;
constexpr int kAsker = 20;  // asks thing.ota.firmware.get once pushed, as after a reboot mid-upgrade

std::string Name(int i) {
  std::string n = std::to_string(i);
  return "fleet-" + std::string(3 - n.size(), '0') + n;
}

struct Api {
  explicit Api(Stack& stack, int port) {
    iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                                {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                                {"IOT_HTTP_PORT", std::to_string(port)},
                                {"IOT_LOG_LEVEL", "info"},
                                {"IOT_PUBLIC_BASE_URL", "http://127.0.0.1:" + std::to_string(port)}};
    process = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    REQUIRE(
        iot::testing::PollUntil([&] { return process->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }
  std::unique_ptr<iot::api::itest::ApiProcess> process;
};

iot::testing::HttpResponse Call(int port, const std::string& method, const std::string& path,
                                const std::string& body = "", const std::string& type = "application/json") {
  iot::testing::HttpHeaders headers = {
      {"Authorization", "Bearer " + std::string(iot::api::itest::kAdminToken)}};
  if (!body.empty()) {
    headers.emplace_back("Content-Type", type);
  }
  return iot::testing::HttpRequest(port, method, "/api/v1/products/" + std::string(kPk) + path, headers,
                                   body);
}

// What happened to the SDK devices.
struct Fleet {
  struct Record {
    int pushes = 0;
    int resumed = 0;
    int requests = 0;
    std::string version;       // what the device runs (informed on every connect)
    std::string firmware_get;  // what thing.ota.firmware.get answered during the upgrade (device kAsker)
    std::vector<int> steps;    // RunOtaUpgrade's outcome per push
  };
  std::mutex mutex;
  std::map<std::string, Record> records;
  std::atomic<int> succeeded{0};
};

std::unique_ptr<iot::device::Device> MakeDevice(Stack& stack, int index, Fleet& fleet,
                                                const std::shared_ptr<iot::device::Runtime>& runtime) {
  iot::device::DeviceOptions o;
  o.broker_uri = stack.Broker().Uri();
  o.product_key = kPk;
  o.device_name = Name(index);
  o.device_secret = kSecret;
  o.runtime = runtime;
  auto device = std::make_unique<iot::device::Device>(o);
  iot::device::Device* self = device.get();
  {
    std::lock_guard lock(fleet.mutex);
    fleet.records[Name(index)].version = "1.0.0";
  }
  // Like a real device: the running version on every connect.
  device->OnConnectionChange([self, index, &fleet](bool ready, const std::string&) {
    if (!ready) {
      return;
    }
    std::string version;
    {
      std::lock_guard lock(fleet.mutex);
      version = fleet.records[Name(index)].version;
    }
    self->InformVersion(version);
  });
  device->OnOtaPush([self, index, &fleet](const iot::alink::OtaPackage& package) {
    int push = 0;
    {
      std::lock_guard lock(fleet.mutex);
      push = ++fleet.records[Name(index)].pushes;
    }
    if (index == kAsker) {
      iot::device::Reply pending = self->GetFirmware();
      auto asked = iot::alink::DecodeOtaPackage(pending.data);
      std::lock_guard lock(fleet.mutex);
      fleet.records[Name(index)].firmware_get =
          pending.ok() && asked ? asked->version + " " + asked->sign : pending.data.dump();
    }
    iot::device::OtaOptions options;
    options.piece_bytes = 64 * 1024;
    options.retry_delay = 500ms;  // 5 attempts over ~7 s: long enough for iot-api to come back
    options.corrupt = index < kCorrupt;
    options.cut_at = index >= kCutFirst && index <= kCutLast && push == 1 ? 100000 : -1;
    std::string stored;
    options.sink = [&stored](std::string_view bytes) {
      stored.append(bytes);
      return true;
    };
    iot::device::OtaResult result = iot::device::RunOtaUpgrade(self, package, options);
    {
      std::lock_guard lock(fleet.mutex);
      auto& record = fleet.records[Name(index)];
      record.steps.push_back(result.step);
      record.resumed += result.resumed_requests;
      record.requests += result.requests;
      if (result.ok && static_cast<std::int64_t>(stored.size()) == package.size) {
        record.version = package.version;  // "rebooted" into the new version
      }
    }
    if (result.ok && static_cast<std::int64_t>(stored.size()) == package.size) {
      self->InformVersion(package.version, package.module);
      fleet.succeeded.fetch_add(1);
    }
  });
  return device;
}

}  // namespace

TEST_CASE(
    "OTA over 200 SDK devices with maxConcurrent 20: corrupted packages, cut downloads resumed with Range, "
    "offline devices and an iot-api crash mid-job",
    "[integration][ota][fleet]") {
  Stack stack;
  for (int i = 0; i < kDevices; ++i) {
    stack.AddDevice(Name(i));
  }
  GatewayProcess gateway(stack, "gw-ota-fleet");
  REQUIRE(gateway.WaitConnected());
  const int port = iot::testing::FreePort();
  auto api = std::make_unique<Api>(stack, port);

  // 200 devices on a few threads: Paho's own (shared by every client) and the runtime's workers, which
  // run the upgrades (one blocking download each, so more workers than maxConcurrent).
  Fleet fleet;
  auto runtime =
      std::make_shared<iot::device::Runtime>(iot::device::RuntimeOptions{.workers = kMaxConcurrent + 4});
  std::vector<std::unique_ptr<iot::device::Device>> devices(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    devices[i] = MakeDevice(stack, i, fleet, runtime);
    if (i < kOfflineFirst || i > kOfflineLast) {
      devices[i]->Start();
    }
  }
  REQUIRE(iot::testing::PollUntil(
      [&] {
        return stack.Count("SELECT count(*) FROM device_modules WHERE device_id > $1", 0) ==
               kDevices - (kOfflineLast - kOfflineFirst + 1);
      },
      60s, 100ms));

  // The package over REST (streamed upload), then the job.
  std::string package(300000, '\0');
  std::mt19937 gen(11);
  for (char& c : package) {
    c = static_cast<char>(gen() & 0xff);
  }
  auto uploaded = Call(port, "POST", "/firmwares?version=2.0.0", package, "application/octet-stream");
  REQUIRE(uploaded.status == 201);
  const std::string firmware_id = json::parse(uploaded.body)["id"].get<std::string>();
  const std::string jobs = "/firmwares/" + firmware_id + "/jobs";
  auto created = Call(
      port, "POST", jobs,
      json{{"target", "all"}, {"maxConcurrent", kMaxConcurrent}, {"retries", 2}, {"timeoutS", 60}}.dump());
  REQUIRE(created.status == 201);
  const std::string job_id = json::parse(created.body)["jobId"].get<std::string>();
  CHECK(json::parse(created.body)["devices"] == kDevices);

  bool restarted = false;
  bool offline_connected = false;
  std::int64_t most_active = 0;
  json state;
  const auto deadline = std::chrono::steady_clock::now() + 240s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = Call(port, "GET", jobs + "/" + job_id);
    if (got.status == 200) {
      state = json::parse(got.body);
      if (state["state"] == "completed") {
        break;
      }
    }
    most_active = std::max(most_active, iot::ota::itest::ActiveTasks(stack.Dsn(), job_id));
    if (!offline_connected && fleet.succeeded >= 40) {
      for (int i = kOfflineFirst; i <= kOfflineLast; ++i) {
        devices[i]->Start();
      }
      offline_connected = true;
    }
    if (!restarted && fleet.succeeded >= 80) {
      // A crash: downloads in flight break and resume once the next instance listens on the same
      // address the links point to (the link's signature stays valid); it takes the lease once it expires.
      api->process->Process().Kill();
      api.reset();
      api = std::make_unique<Api>(stack, port);
      restarted = true;
    }
    std::this_thread::sleep_for(200ms);
  }
  INFO(state.dump());
  REQUIRE(state["state"] == "completed");
  CHECK(restarted);
  CHECK(offline_connected);
  CHECK(most_active <= kMaxConcurrent);
  CHECK(most_active >= 2);
  CHECK(api->process->Process().LogContains("driving OTA jobs"));

  const int failing = kCorrupt;
  CHECK(state["counts"]["succeeded"] == kDevices - failing);
  CHECK(state["counts"]["failed"] == failing);
  CHECK(state["counts"].value("timed_out", 0) == 0);  // states without tasks are absent

  // Each task's end, page by page.
  std::map<std::string, json> tasks;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = Call(port, "GET",
                     jobs + "/" + job_id + "/tasks?limit=100" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(page.status == 200);
    json body = json::parse(page.body);
    for (const json& t : body["items"]) {
      tasks[t["deviceName"].get<std::string>()] = t;
    }
    if (!body["nextCursor"].is_string()) {
      break;
    }
    cursor = body["nextCursor"].get<std::string>();
  }
  REQUIRE(tasks.size() == kDevices);
  std::lock_guard lock(fleet.mutex);
  for (int i = 0; i < kDevices; ++i) {
    const json& t = tasks[Name(i)];
    const auto& record = fleet.records[Name(i)];
    INFO(Name(i) << " " << t.dump());
    // Every push's download started at byte 0 once at least, counted on the task its link names.
    CHECK(t["downloads"].get<int>() >= record.pushes);
    if (i < kCorrupt) {
      CHECK(t["state"] == "failed");
      CHECK(t["step"] == -3);
      CHECK(t["desc"] == "md5 mismatch");
      CHECK(t["attempts"] == 3);  // retries 2
      CHECK(record.pushes == 3);
      continue;
    }
    CHECK(t["state"] == "succeeded");
    CHECK(t["step"] == 100);
    if (i == kAsker) {
      CHECK(record.firmware_get == "2.0.0 " + json::parse(uploaded.body)["sha256"].get<std::string>());
    }
    if (i >= kCutFirst && i <= kCutLast) {
      CHECK(record.resumed >= 1);  // resumed from byte 100,000 with a Range request
      CHECK(record.pushes >= 1);
    }
    if (i >= kOfflineFirst && i <= kOfflineLast) {
      CHECK(t["srcVersion"] == "");  // never informed before the job
      CHECK(record.pushes >= 1);
    }
  }
  CHECK(stack.Count("SELECT count(*) FROM device_modules WHERE version = '2.0.0' AND device_id > $1", 0) ==
        kDevices - failing);

  // Every push was a download from iot-api: counted on the firmware (those that started at byte 0).
  auto firmware = Call(port, "GET", "/firmwares/" + firmware_id);
  REQUIRE(firmware.status == 200);
  CHECK(json::parse(firmware.body)["downloads"].get<int>() >= kDevices - failing);
  for (auto& d : devices) {
    d->Stop();
  }
}

// The device side of OTA (Alink §2.16) through the real broker with the plugin, a real iot-gateway
// under its own database role, real MQTT devices and PostgreSQL: informs recorded per module,
// progress moving the device's task, thing.ota.firmware.get answered with the pending package and a
// signed link, a task completed by the informed target version.

#include <algorithm>
#include <chrono>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/alink/ota.hpp"
#include "iot/common/signed_url.hpp"
#include "iot/store/forwarding.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/product_config.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Stack;

namespace {

constexpr const char* kBase = "https://iot.test";

std::string OtaTopic(const std::string& op, const std::string& dn) {
  return "/ota/device/" + op + "/" + std::string(kPk) + "/" + dn;
}

std::string SysTopic(const std::string& dn, const std::string& suffix) {
  return "/sys/" + std::string(kPk) + "/" + dn + "/" + suffix;
}

json FirmwareGet(iot::testing::MqttTestClient& device, const std::string& dn, const std::string& id,
                 const json& params) {
  auto reply = iot::gateway::itest::Request(
      device, SysTopic(dn, "thing/ota/firmware/get"),
      json{{"id", id}, {"version", "1.0"}, {"params", params}, {"method", "thing.ota.firmware.get"}});
  REQUIRE(reply);
  return *reply;
}

// The module version stored for the device ("" when none).
std::string ModuleVersion(Stack& stack, std::int64_t device_id, const std::string& module) {
  auto modules = iot::store::ListDeviceModules(stack.Db(), device_id);
  REQUIRE(modules.has_value());
  for (const auto& m : *modules) {
    if (m.module == module) {
      return m.version;
    }
  }
  return "";
}

iot::store::OtaTaskRow TaskOf(Stack& stack, const std::string& job_id, const std::string& dn) {
  auto tasks = iot::store::ListOtaTasks(stack.Db(), kPk, job_id, iot::store::PageQuery{});
  REQUIRE(tasks.has_value());
  for (const auto& t : tasks->items) {
    if (t.device_name == dn) {
      return t;
    }
  }
  FAIL("no task for " << dn);
  return {};
}

bool TaskIs(Stack& stack, const std::string& job_id, const std::string& dn, const std::string& state) {
  return iot::testing::PollUntil([&] { return TaskOf(stack, job_id, dn).state == state; }, 10s, 50ms);
}

}  // namespace

TEST_CASE("OTA device side: inform, firmware get, progress, failure and success through the gateway",
          "[integration][ota]") {
  Stack stack(iot::store::ValidationMode::kWeak, /*private_pg=*/true);  // the gateway's own role
  const auto d1 = stack.AddDevice("ota-1");
  const auto d2 = stack.AddDevice("ota-2");
  // A forwarding rule takes the OTA results; no forwarder runs here, so its outbox rows stay to be read.
  iot::store::ForwardRuleCreate rule{
      .name = "ota results", .product_key = std::string(kPk), .kinds = {"ota"}};
  rule.destinations_json = R"([{"type":"webhook","url":"http://127.0.0.1:9/"}])";
  REQUIRE(iot::store::CreateForwardRule(stack.Db(), rule).has_value());
  GatewayProcess gateway(stack, "gw-ota", {{"IOT_PUBLIC_BASE_URL", kBase}, {"IOT_GATEWAY_FORWARD", "0"}});
  REQUIRE(gateway.WaitConnected());
  auto dev1 = stack.Connect("ota-1");
  auto dev2 = stack.Connect("ota-2");

  // Informs: per module, the default module when none is named; stored without an answer.
  REQUIRE(dev1->Publish(OtaTopic("inform", "ota-1"), R"({"id":"1","params":{"version":"1.0.0"}})"));
  REQUIRE(
      dev1->Publish(OtaTopic("inform", "ota-1"), R"({"id":"2","params":{"version":"7","module":"MCU"}})"));
  REQUIRE(dev2->Publish(OtaTopic("inform", "ota-2"), R"({"id":"3","params":{"version":"1.0.0"}})"));
  CHECK(iot::testing::PollUntil([&] { return ModuleVersion(stack, d1, "MCU") == "7"; }, 10s, 50ms));
  CHECK(ModuleVersion(stack, d1, "default") == "1.0.0");
  CHECK(iot::testing::PollUntil([&] { return ModuleVersion(stack, d2, "default") == "1.0.0"; }, 10s, 50ms));

  // A malformed inform is stored as a rejection (no reply exists for it).
  REQUIRE(dev1->Publish(OtaTopic("inform", "ota-1"), R"({"id":"4","params":{"module":"MCU"}})"));
  CHECK(iot::testing::PollUntil(
      [&] {
        return stack.Count("SELECT count(*) FROM rejections WHERE device_id = $1 AND code = 460", d1) == 1;
      },
      10s, 50ms));

  // Nothing pending: {}.
  json none = FirmwareGet(*dev1, "ota-1", "10", json::object());
  CHECK(none["code"] == 200);
  CHECK(none["data"] == json::object());
  CHECK(FirmwareGet(*dev1, "ota-1", "11", json{{"module", 5}})["code"] == 460);

  // A firmware and a job over both devices, with no retry; the driver's push marks tasks pushed.
  std::string bytes(3000, 'x');
  bool given = false;
  iot::store::FirmwareCreate create{.product_key = kPk, .version = "1.1.0", .src_versions = {"1.0.0"}};
  auto firmware = iot::store::CreateFirmware(
      stack.Db(), create, 1 << 20, [&](char* buffer, std::size_t capacity) -> iot::Result<std::size_t> {
        if (given) {
          return std::size_t{0};
        }
        given = true;
        std::copy_n(bytes.data(), std::min(capacity, bytes.size()), buffer);
        return std::min(capacity, bytes.size());
      });
  REQUIRE(firmware.has_value());
  auto job = iot::store::CreateOtaJob(
      stack.Db(), iot::store::OtaJobCreate{.product_key = kPk, .firmware_id = firmware->firmware_id});
  REQUIRE(job.has_value());
  CHECK(FirmwareGet(*dev1, "ota-1", "12", json::object())["data"] == json::object());  // queued only
  {
    pqxx::connection c(stack.Dsn());
    pqxx::work tx(c);
    tx.exec("UPDATE ota_tasks SET state = 'pushed', attempts = 1");
    tx.commit();
  }

  // Firmware get: the package with a link iot-api will accept (the shared signing key).
  json got = FirmwareGet(*dev1, "ota-1", "13", json::object());
  REQUIRE(got["code"] == 200);
  CHECK(got["id"] == "13");
  const json& data = got["data"];
  CHECK(data["version"] == "1.1.0");
  CHECK(data["size"] == 3000);
  CHECK(data["md5"] == firmware->md5);
  CHECK(data["sign"] == firmware->sha256);
  CHECK(data["signMethod"] == "SHA256");
  CHECK(data["module"] == "default");
  auto decoded = iot::alink::DecodeOtaPackage(data);
  REQUIRE(decoded.has_value());
  const std::string path = iot::alink::FirmwareFilePath(firmware->firmware_id);
  const std::string url = data["url"].get<std::string>();
  // The link names the device's task (its downloads are counted there), signed with the path.
  const std::string task = std::to_string(TaskOf(stack, job->job_id, "ota-1").task_id);
  REQUIRE(url.rfind(kBase + path + "?task=" + task + "&expires=", 0) == 0);
  auto key = iot::store::EnsureUrlSigningKey(stack.Db(), iot::store::kDownloadKeyName);
  REQUIRE(key.has_value());
  const auto at = url.find("expires=") + 8;
  const auto expires = url.substr(at, url.find('&', at) - at);
  const auto signature = url.substr(url.find("signature=") + 10);
  CHECK(iot::VerifyUrl(*key, iot::alink::FirmwareSignedResource(firmware->firmware_id, task), expires,
                       signature, std::stoll(expires) - 60) == iot::UrlCheck::kValid);
  CHECK(iot::VerifyUrl(*key, path, expires, signature, std::stoll(expires) - 60) ==
        iot::UrlCheck::kBadSignature);
  CHECK(FirmwareGet(*dev1, "ota-1", "14", json{{"module", "MCU"}})["data"] == json::object());

  // Progress: downloading with its step; a failure with no retry left fails with step and desc.
  REQUIRE(dev1->Publish(OtaTopic("progress", "ota-1"), R"({"id":"20","params":{"step":"35","desc":""}})"));
  CHECK(TaskIs(stack, job->job_id, "ota-1", "downloading"));
  CHECK(TaskOf(stack, job->job_id, "ota-1").step == 35);
  REQUIRE(dev2->Publish(OtaTopic("progress", "ota-2"),
                        R"({"id":"21","params":{"step":"-3","desc":"sign mismatch"}})"));
  CHECK(TaskIs(stack, job->job_id, "ota-2", "failed"));
  CHECK(TaskOf(stack, job->job_id, "ota-2").step == -3);
  CHECK(TaskOf(stack, job->job_id, "ota-2").desc == "sign mismatch");

  // The target version informed: succeeded.
  REQUIRE(dev1->Publish(OtaTopic("inform", "ota-1"), R"({"id":"22","params":{"version":"1.1.0"}})"));
  CHECK(TaskIs(stack, job->job_id, "ota-1", "succeeded"));
  CHECK(TaskOf(stack, job->job_id, "ota-1").step == 100);
  CHECK(ModuleVersion(stack, d1, "default") == "1.1.0");
  CHECK(FirmwareGet(*dev1, "ota-1", "23", json::object())["data"] == json::object());
  auto counts = iot::store::GetOtaJob(stack.Db(), kPk, job->job_id);
  REQUIRE(counts.has_value());
  CHECK(counts->counts[3] == std::pair<std::string, std::int64_t>{"succeeded", 1});
  CHECK(counts->counts[4] == std::pair<std::string, std::int64_t>{"failed", 1});

  // Each device's result is a forwardable /ota/upgrade message, written with the task's end (the gateway's
  // own role: the trigger of 020_ota_forwarding.sql runs under it).
  {
    pqxx::connection c(stack.Dsn());
    pqxx::read_transaction tx(c);
    auto rows = tx.exec("SELECT topic, payload::text FROM forward_outbox WHERE kind = 'ota' ORDER BY id");
    REQUIRE(rows.size() == 2);
    CHECK(rows[0][0].as<std::string>() == "/" + std::string(kPk) + "/ota-2/ota/upgrade");
    const json failed_result = json::parse(rows[0][1].as<std::string>());
    CHECK(failed_result["status"] == "FAILED");
    CHECK(failed_result["desc"] == "sign mismatch");
    CHECK(failed_result["deviceName"] == "ota-2");
    CHECK(rows[1][0].as<std::string>() == "/" + std::string(kPk) + "/ota-1/ota/upgrade");
    const json result = json::parse(rows[1][1].as<std::string>());
    CHECK(result["status"] == "SUCCEEDED");
    CHECK(result["productKey"] == kPk);
    CHECK(result["deviceName"] == "ota-1");
    CHECK(result["srcVersion"] == "1.0.0");
    CHECK(result["destVersion"] == "1.1.0");
    CHECK(result["jobId"] == job->job_id);
    CHECK(result["taskId"] == std::to_string(TaskOf(stack, job->job_id, "ota-1").task_id));
    CHECK(result["iotId"].is_string());
    CHECK(result["messageCreateTime"].is_number_integer());
  }

  // The device's REST view: module versions and its OTA history (iot-api under its own role).
  iot::api::itest::ApiProcess api({}, stack.ServiceDsn("iot_api"));
  const iot::testing::HttpHeaders auth = {
      {"Authorization", "Bearer " + std::string(iot::api::itest::kAdminToken)}};
  const std::string devices = "/api/v1/products/" + std::string(kPk) + "/devices/";
  auto view = iot::testing::HttpRequest(api.Port(), "GET", devices + "ota-1/ota", auth, "");
  REQUIRE(view.status == 200);
  json ota = json::parse(view.body);
  REQUIRE(ota["modules"].size() == 2);
  CHECK(ota["modules"][0]["module"] == "MCU");
  CHECK(ota["modules"][0]["version"] == "7");
  CHECK(ota["modules"][1]["module"] == "default");
  CHECK(ota["modules"][1]["version"] == "1.1.0");
  REQUIRE(ota["tasks"].size() == 1);
  CHECK(ota["tasks"][0]["jobId"] == job->job_id);
  CHECK(ota["tasks"][0]["state"] == "succeeded");
  CHECK(ota["tasks"][0]["version"] == "1.1.0");
  CHECK(ota["tasks"][0]["srcVersion"] == "1.0.0");
  CHECK(ota["tasks"][0]["step"] == 100);
  json failed =
      json::parse(iot::testing::HttpRequest(api.Port(), "GET", devices + "ota-2/ota", auth, "").body);
  CHECK(failed["tasks"][0]["state"] == "failed");
  CHECK(failed["tasks"][0]["desc"] == "sign mismatch");
  CHECK(failed["tasks"][0]["step"] == -3);
  CHECK(iot::testing::HttpRequest(api.Port(), "GET", devices + "ghost/ota", auth, "").status == 404);
  CHECK(iot::testing::HttpRequest(api.Port(), "GET", devices + "ota-1/ota", {}, "").status == 401);
}

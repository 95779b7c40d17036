#include <string>
#include <variant>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"
#include "iot/common/signed_url.hpp"
#include "reply.hpp"

using iot::gateway::OpResult;
using iot::gateway::OtaFirmwareGetOp;
using iot::gateway::OtaInformOp;
using iot::gateway::OtaProgressOp;
using iot::gateway::Work;
using iot::gateway::testing::kNow;
using nlohmann::json;
namespace t = iot::gateway::testing;
namespace replies = iot::gateway::replies;

namespace {

const std::string kInform = "/ota/device/inform/a1Prod/dev1";
const std::string kProgress = "/ota/device/progress/a1Prod/dev1";
const std::string kGet = "/sys/a1Prod/dev1/thing/ota/firmware/get";

struct Fixture : t::HandlerFixture {
  Fixture() : HandlerFixture(t::LinkSettings()) {}
};

// The one rejection a refused report stored.
const iot::store::RejectionItem& Rejection(const Work& w) {
  REQUIRE(w.telemetry);
  REQUIRE(w.telemetry->rejections.size() == 1);
  return w.telemetry->rejections[0];
}

}  // namespace

TEST_CASE("OTA inform: the module's version goes to the writer, nothing is answered", "[gateway][ota]") {
  Fixture f;
  Work w = f.Run(kInform, R"({"id":"1","params":{"version":"1.0.1","module":"MCU"}})");
  const auto* op = std::get_if<OtaInformOp>(&w.op);
  REQUIRE(op);
  CHECK(op->device_id == 11);
  CHECK(op->module == "MCU");
  CHECK(op->version == "1.0.1");
  CHECK(op->at == kNow);
  CHECK_FALSE(w.reply);
  CHECK_FALSE(w.telemetry);
  CHECK(f.metrics.unanswered.Get("ota_inform") == 1);

  Work plain = f.Run(kInform, R"({"id":"2","params":{"version":"2"}})");
  CHECK(std::get<OtaInformOp>(plain.op).module == "default");
}

TEST_CASE("OTA inform refusals are stored as rejections (no reply exists)", "[gateway][ota]") {
  Fixture f;
  Work missing = f.Run(kInform, R"({"id":"1","params":{"module":"MCU"}})");
  CHECK(std::holds_alternative<std::monostate>(missing.op));
  CHECK_FALSE(missing.reply);
  CHECK(Rejection(missing).code == 460);
  Work not_json = f.Run(kInform, "{oops");
  CHECK(Rejection(not_json).code == 6207);
  Work long_version =
      f.Run(kInform, json{{"id", "3"}, {"params", {{"version", std::string(65, 'v')}}}}.dump());
  CHECK(Rejection(long_version).code == 460);
  // A disabled device: refused with 6204, stored; an unknown one: nothing can be stored.
  Work disabled = f.Run("/ota/device/inform/a1Prod/dev2", R"({"id":"4","params":{"version":"1"}})");
  CHECK(Rejection(disabled).code == 6204);
  Work ghost = f.Run("/ota/device/inform/a1Prod/ghost", R"({"id":"5","params":{"version":"1"}})");
  CHECK_FALSE(ghost.telemetry);
  CHECK(std::holds_alternative<std::monostate>(ghost.op));
}

TEST_CASE("OTA progress: steps and failures go to the writer, bad steps are refused", "[gateway][ota]") {
  Fixture f;
  Work w = f.Run(kProgress, R"({"id":"1","params":{"step":"-3","desc":"verify failed","module":"MCU"}})");
  const auto* op = std::get_if<OtaProgressOp>(&w.op);
  REQUIRE(op);
  CHECK(op->device_id == 11);
  CHECK(op->step == -3);
  CHECK(op->desc == "verify failed");
  CHECK(op->module == "MCU");
  CHECK_FALSE(w.reply);
  CHECK(std::get<OtaProgressOp>(f.Run(kProgress, R"({"id":"2","params":{"step":"45"}})").op).step == 45);

  Work bad = f.Run(kProgress, R"({"id":"3","params":{"step":"150"}})");
  CHECK(std::holds_alternative<std::monostate>(bad.op));
  CHECK(Rejection(bad).code == 460);
  CHECK(f.metrics.unanswered.Get("ota_progress") == 3);
}

TEST_CASE("OTA firmware get: answered after the writer's read, 9112 for an unknown device",
          "[gateway][ota]") {
  Fixture f;
  Work w = f.Run(kGet,
                 R"({"id":"7","version":"1.0","params":{"module":"MCU"},"method":"thing.ota.firmware.get"})");
  const auto* op = std::get_if<OtaFirmwareGetOp>(&w.op);
  REQUIRE(op);
  CHECK(op->device_id == 11);
  CHECK(op->module == "MCU");
  CHECK(op->base_url == "https://iot.example:8443");
  CHECK(op->url_key == f.source.url_key);
  CHECK(op->now_s == kNow / 1000);
  REQUIRE(w.reply);
  CHECK(w.reply->topic == kGet + "_reply");
  CHECK(w.reply->code == 200);
  CHECK(w.reply->id == "7");

  // Nothing pending: {}.
  replies::SetOtaPackage(*w.reply, *op, OpResult{});
  CHECK(w.reply->data == json::object());

  // A pending package: Alibaba's fields with a signed link to the firmware route.
  OpResult pending;
  iot::store::PendingUpgrade p;
  p.firmware.firmware_id = "0123456789abcdef0123456789abcdef";
  p.firmware.module = "MCU";
  p.firmware.version = "2.0.0";
  p.firmware.size = 4096;
  p.firmware.md5 = std::string(32, 'a');
  p.firmware.sha256 = std::string(64, 'b');
  p.firmware.ext_data_json = R"({"note":"x"})";
  pending.ota_pending = p;
  replies::SetOtaPackage(*w.reply, *op, pending);
  const json& data = w.reply->data;
  CHECK(data["version"] == "2.0.0");
  CHECK(data["size"] == 4096);
  CHECK(data["md5"] == std::string(32, 'a'));
  CHECK(data["sign"] == std::string(64, 'b'));
  CHECK(data["signMethod"] == "SHA256");
  CHECK(data["module"] == "MCU");
  CHECK(data["isDiff"] == 0);
  CHECK(data["extData"] == json{{"note", "x"}});
  const std::string path = "/api/v1/files/firmware/0123456789abcdef0123456789abcdef";
  const std::string url = data["url"].get<std::string>();
  REQUIRE(url.rfind("https://iot.example:8443" + path + "?expires=", 0) == 0);
  const auto expires = url.substr(url.find("expires=") + 8, url.find('&') - url.find("expires=") - 8);
  const auto signature = url.substr(url.find("signature=") + 10);
  CHECK(iot::VerifyUrl(f.source.url_key, path, expires, signature, kNow / 1000) == iot::UrlCheck::kValid);

  Work ghost = f.Run("/sys/a1Prod/ghost/thing/ota/firmware/get",
                     R"({"id":"8","params":{},"method":"thing.ota.firmware.get"})");
  REQUIRE(ghost.reply);
  CHECK(ghost.reply->code == 9112);
  Work bad = f.Run(kGet, R"({"id":"9","params":{"module":1},"method":"thing.ota.firmware.get"})");
  CHECK(bad.reply->code == 460);
  CHECK(std::holds_alternative<std::monostate>(bad.op));
}

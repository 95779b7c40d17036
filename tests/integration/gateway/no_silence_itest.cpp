// No silence: one real signed device publishes every topic kind a device may publish (reference
// §2.2) through the real broker (plugin ACL) to the real gateway. Every request topic must be
// answered (handled, or refused with 6300: not implemented); every topic without an answer must be
// counted on the gateway's /metrics (iot_gateway_unanswered_total{kind}). The kinds are named so the
// next developer sees which ones are handled and which are only refused.

#include <iostream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/gateway_stack.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"

using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kDn = "walker01";
const std::string kSys = "/sys/" + std::string(kPk) + "/" + kDn + "/";
const std::string kDev = std::string(kPk) + "/" + kDn;

// A request kind: where it is published, what, where its answer comes, and what it must say.
struct RequestKind {
  std::string kind;  // iot_gateway metrics name of the kind
  std::string topic;
  std::string payload;
  std::string reply_topic;
  std::string id;  // the answer must echo it (empty: the kind's answer has no id)
  int code = 0;    // 0: any code (families being built elsewhere, or still refused)
};

std::string Alink(const std::string& id, const std::string& method, const json& params) {
  return json{{"id", id}, {"version", "1.0"}, {"params", params}, {"method", method}}.dump();
}

RequestKind Sys(std::string kind, const std::string& path, const std::string& id, const std::string& method,
                json params, int code = 0) {
  return {std::move(kind), kSys + path, Alink(id, method, params), kSys + path + "_reply", id, code};
}

std::vector<RequestKind> RequestKinds() {
  const std::string session = "/ext/session/" + kDev + "/combine/";
  const json sub = json::array({{{"productKey", kPk}, {"deviceName", "sub-0001"}}});
  return {
      // Handled by the platform.
      Sys("property_post", "thing/event/property/post", "1", "thing.event.property.post", {{"RunCount", 1}},
          200),
      Sys("event_post", "thing/event/Alarm/post", "2", "thing.event.Alarm.post", {{"value", json::object()}}),
      Sys("property_history_post", "thing/event/property/history/post", "3",
          "thing.event.property.history.post", json::array()),
      Sys("property_batch_post", "thing/event/property/batch/post", "4", "thing.event.property.batch.post",
          {{"properties", {{"RunCount", json::array({json{{"value", 2}, {"time", 1700000000000}}})}}}}),
      Sys("desired_get", "thing/property/desired/get", "5", "thing.property.desired.get",
          json::array({"PowerOn"}), 200),
      Sys("desired_delete", "thing/property/desired/delete", "6", "thing.property.desired.delete",
          {{"PowerOn", json::object()}}, 200),
      Sys("deviceinfo_update", "thing/deviceinfo/update", "7", "thing.deviceinfo.update",
          json::array({{{"attrKey", "site"}, {"attrValue", "lab"}}}), 200),
      Sys("deviceinfo_delete", "thing/deviceinfo/delete", "8", "thing.deviceinfo.delete",
          json::array({{{"attrKey", "site"}}}), 200),
      Sys("dsltemplate_get", "thing/dsltemplate/get", "9", "thing.dsltemplate.get", json::object(), 200),
      {"ntp_request", "/ext/ntp/" + kDev + "/request", R"({"deviceSendTime":"100"})",
       "/ext/ntp/" + kDev + "/response", "", 0},
      {"shadow_update", "/shadow/update/" + kDev, R"({"method":"get"})", "/shadow/get/" + kDev, "", 0},
      // Families other work builds (any well-formed answer with the request's id).
      Sys("config_get", "thing/config/get", "10", "thing.config.get",
          {{"configScope", "product"}, {"getType", "file"}}),
      Sys("ota_firmware_get", "thing/ota/firmware/get", "11", "thing.ota.firmware.get", json::object()),
      Sys("sub_register", "thing/sub/register", "12", "thing.sub.register", sub),
      Sys("sub_unregister", "thing/sub/unregister", "13", "thing.sub.unregister", sub),
      Sys("topo_add", "thing/topo/add", "14", "thing.topo.add", json::array()),
      Sys("topo_delete", "thing/topo/delete", "15", "thing.topo.delete", sub),
      Sys("topo_get", "thing/topo/get", "16", "thing.topo.get", json::object()),
      Sys("list_found", "thing/list/found", "17", "thing.list.found", sub),
      Sys("property_pack_post", "thing/event/property/pack/post", "22", "thing.event.property.pack.post",
          json::object()),
      {"session_login", session + "login", Alink("18", "combine.login", json::object()),
       session + "login_reply", "18", 0},
      {"session_logout", session + "logout", Alink("19", "combine.logout", json::object()),
       session + "logout_reply", "19", 0},
      {"session_batch_login", session + "batch_login", Alink("20", "combine.batch.login", json::object()),
       session + "batch_login_reply", "20", 0},
      {"session_batch_logout", session + "batch_logout", Alink("21", "combine.batch.logout", json::object()),
       session + "batch_logout_reply", "21", 0},
      // Not implemented yet: refused with 6300, never left to time out.
      Sys("dynamic_tsl_get", "thing/dynamicTsl/get", "23", "thing.dynamicTsl.get", json::object(), 6300),
      Sys("diag_post", "_thing/diag/post", "24", "", json::object(), 6300),
      Sys("sys_unknown", "thing/whatever", "26", "", json::object(), 6300),
      // Raw bytes on an alink product: refused on up_raw_reply (no id in bytes).
      {"model_up_raw", kSys + "thing/model/up_raw", std::string("\x01\x02", 2),
       kSys + "thing/model/up_raw_reply", "", 6300},
  };
}

// A reply-less kind and the kind its unanswered count is filed under.
struct QuietKind {
  std::string kind;
  std::string topic;
  std::string payload;
};

std::vector<QuietKind> QuietKinds() {
  const std::string reply = R"({"id":"900","code":200,"data":{}})";
  return {
      {"property_set", kSys + "thing/service/property/set_reply", reply},
      {"property_get", kSys + "thing/service/property/get_reply", reply},
      {"service_call", kSys + "thing/service/Reboot_reply", reply},
      {"config_push", kSys + "thing/config/push_reply", reply},
      {"topo_add_notify", kSys + "thing/topo/add/notify_reply", reply},
      {"disable", kSys + "thing/disable_reply", reply},
      {"log_post", kSys + "thing/log/post", Alink("901", "thing.log.post", json::array())},
      {"ota_inform", "/ota/device/inform/" + kDev, R"({"id":"902","params":{"version":"1.0.0"}})"},
      {"ota_progress", "/ota/device/progress/" + kDev, R"({"id":"903","params":{"step":"50","desc":""}})"},
      {"ota_request", "/ota/device/request/" + kDev, R"({"id":"904","params":{"version":"1.0.0"}})"},
      {"property_post", kSys + "thing/event/property/post",
       json{{"id", "905"}, {"sys", {{"ack", 0}}}, {"params", {{"RunCount", 3}}}}.dump()},
  };
}

}  // namespace

TEST_CASE("No silence: every device-publishable topic kind is answered or counted",
          "[integration][gateway]") {
  Stack stack;
  stack.AddDevice(kDn);
  GatewayProcess gateway(stack, "gw-no-silence");
  REQUIRE(gateway.WaitConnected());
  auto device = stack.Connect(kDn);  // subscribed to /sys/{pk}/{dn}/thing/# and the NTP response
  REQUIRE(device->Subscribe(kSys + "_thing/diag/post_reply", 1) <= 1);
  REQUIRE(device->Subscribe("/shadow/get/" + kDev, 1) <= 1);
  for (const char* name : {"login", "logout", "batch_login", "batch_logout"}) {
    REQUIRE(device->Subscribe("/ext/session/" + kDev + "/combine/" + name + "_reply", 1) <= 1);
  }

  for (const RequestKind& k : RequestKinds()) {
    INFO("kind " << k.kind << " on " << k.topic);
    REQUIRE(device->Publish(k.topic, k.payload, k.kind == "ntp_request" ? 0 : 1));
    auto answer = device->WaitMessage(k.reply_topic, 10s);
    REQUIRE(answer.has_value());
    json body = json::parse(answer->payload, nullptr, false);
    REQUIRE(body.is_object());
    if (!k.id.empty()) {
      CHECK(body["id"] == k.id);
      CHECK(body["code"].is_number_integer());
    }
    if (k.code != 0) {
      CHECK(body["code"] == k.code);
    }
  }

  for (const QuietKind& k : QuietKinds()) {
    INFO("reply-less kind " << k.kind << " on " << k.topic);
    REQUIRE(device->Publish(k.topic, k.payload, 1));
    const std::string metric = "iot_gateway_unanswered_total{kind=\"" + k.kind + "\"}";
    CHECK(iot::testing::PollUntil([&] { return gateway.Metric(metric) >= 1; }, 10s, 50ms));
  }
  // Nothing more was answered than asked: no reply to a reply-less topic.
  CHECK_FALSE(device->WaitMessage(kSys + "thing/log/post_reply", 300ms).has_value());
  if (!Catch::getResultCapture().lastAssertionPassed()) {
    std::cerr << "----- gateway log\n" << gateway.LogTail() << "\n";
  }
}

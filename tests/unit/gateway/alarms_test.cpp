// Alarm evaluation in the gateway without I/O: rules compiled from the store's rows, and what a
// product's program says about a device's messages (the signals the batch writer applies).
#include "alarms.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"
#include "iot/store/telemetry_writer.hpp"

namespace iot::gateway {
namespace {

using nlohmann::json;
using What = store::AlarmSignal::What;

store::AlarmRule Row(std::int64_t id, std::string when, int for_s = 0, std::string clear = "",
                     std::string event = "") {
  store::AlarmRule row;
  row.id = id;
  row.product_key = "a1Prod";
  row.when = std::move(when);
  row.for_s = for_s;
  row.clear_when = std::move(clear);
  row.event = std::move(event);
  return row;
}

ProductAlarms Program(const std::vector<store::AlarmRule>& rows) {
  std::vector<CompiledAlarmRule> compiled;
  for (const auto& row : rows) {
    std::string error;
    auto rule = CompileAlarmRule(row, error);
    INFO(error);
    REQUIRE(rule);
    compiled.push_back(std::move(*rule));
  }
  return ProductAlarms(std::move(compiled));
}

store::TelemetryMessage Post(std::vector<std::pair<std::string, std::string>> items,
                             store::TimeMs time = 1000) {
  store::TelemetryMessage m;
  m.device_id = 7;
  m.received_at = time;
  for (auto& [id, value] : items) {
    m.properties.push_back(store::PropertyItem{id, value, time});
  }
  return m;
}

std::vector<store::AlarmSignal> Evaluate(const ProductAlarms& program, const std::string& stored,
                                         const std::vector<store::TelemetryMessage>& messages) {
  std::vector<const store::TelemetryMessage*> pointers;
  for (const auto& m : messages) {
    pointers.push_back(&m);
  }
  std::vector<store::AlarmSignal> out;
  program.Evaluate(stored, pointers, 7, out);
  return out;
}

}  // namespace

TEST_CASE("Alarm rules: expressions are compiled and bad ones refused", "[gateway][alarms]") {
  std::string error;
  CHECK(CompileAlarmRule(Row(1, "Temp > 40", 0, "Temp <= 38"), error));
  CHECK_FALSE(CompileAlarmRule(Row(1, "Temp >"), error));
  CHECK(error == "when: column 7: expected an operand, found the end of text");
  CHECK_FALSE(CompileAlarmRule(Row(1, "Temp > 1", 0, "(("), error));
  CHECK(error.rfind("clearWhen: ", 0) == 0);
  CHECK_FALSE(CompileAlarmRule(Row(1, ""), error));
  CHECK(CompileAlarmRule(Row(1, "", 0, "", "alert"), error));
}

TEST_CASE("Alarm evaluation: a condition on the device's values with the post applied", "[gateway][alarms]") {
  auto program = Program({Row(1, "Temp > 40 && Humidity < 20", 0, "Temp <= 38")});
  // The stored values hold Humidity; the post brings Temp.
  auto s = Evaluate(program, R"({"Humidity":[10,500,500]})", {Post({{"Temp", "41.5"}})});
  REQUIRE(s.size() == 1);
  CHECK(s[0].what == What::kHolds);
  CHECK(s[0].rule_id == 1);
  CHECK(s[0].at == 1000);
  CHECK(json::parse(s[0].value_json) == json{{"Temp", 41.5}, {"Humidity", 10}});
  // Between the limits: neither holds nor clears; below: clears.
  s = Evaluate(program, R"({"Humidity":[10,500,500]})", {Post({{"Temp", "39"}}), Post({{"Temp", "37"}})});
  REQUIRE(s.size() == 2);
  CHECK(s[0].what == What::kReleased);
  CHECK(s[1].what == What::kClears);
  // A post about something else says nothing about the rule.
  CHECK(Evaluate(program, "{}", {Post({{"Label", "\"x\""}})}).empty());
  // A value older than the stored one is not applied (the stored Temp 45 stays).
  s = Evaluate(program, R"({"Temp":[45,5000,5000],"Humidity":[10,500,500]})", {Post({{"Temp", "20"}}, 1000)});
  REQUIRE(s.size() == 1);
  CHECK(s[0].what == What::kHolds);
}

TEST_CASE("Alarm evaluation: without a clear condition it clears when the condition no longer holds",
          "[gateway][alarms]") {
  auto program = Program({Row(2, "RunCount > 100", 30)});
  auto s = Evaluate(program, "{}", {Post({{"RunCount", "150"}}), Post({{"RunCount", "50"}})});
  REQUIRE(s.size() == 2);
  CHECK(s[0].what == What::kHolds);
  CHECK(s[0].for_s == 30);
  CHECK(s[1].what == What::kClears);
}

TEST_CASE("Alarm evaluation: event rules match an identifier or a type", "[gateway][alarms]") {
  auto program = Program({Row(3, "", 0, "", "alert"), Row(4, "", 0, "", "Fault")});
  store::TelemetryMessage m;
  m.received_at = 2000;
  m.events.push_back(store::EventItem{"LowBattery", "alert", R"({"Level":5})", 2000});
  m.events.push_back(store::EventItem{"Fault", "error", "", 2000});
  m.events.push_back(store::EventItem{"Hello", "info", "{}", 2000});
  auto s = Evaluate(program, "{}", {m});
  REQUIRE(s.size() == 2);
  CHECK(s[0].what == What::kEvent);
  CHECK(s[0].rule_id == 3);
  CHECK(json::parse(s[0].value_json) ==
        json{{"event", "LowBattery"}, {"type", "alert"}, {"output", {{"Level", 5}}}});
  CHECK(s[1].rule_id == 4);
  CHECK(json::parse(s[1].value_json)["output"] == json::object());
}

TEST_CASE(
    "Alarm rules: live posts of a product with rules carry its program - the handler waits for the rules",
    "[gateway][alarms]") {
  AlarmRules rules;
  HandlerSettings settings;
  settings.rate_per_second = 1000;
  settings.alarm_rules = &rules;
  testing::HandlerFixture f(settings);
  const std::string post = "/sys/a1Prod/dev1/thing/event/property/post";
  Work waiting;
  CHECK(f.handler->Handle(InboundMessage{post, R"({"id":"1","params":{}})", testing::kNow}, testing::kNow,
                          waiting) == HandleStatus::kRetry);
  rules.Replace({});
  CHECK_FALSE(f.Run(post, R"({"id":"2","params":{"RunCount":5}})").telemetry->alarms);
  std::vector<CompiledAlarmRule> compiled;
  std::string error;
  compiled.push_back(*CompileAlarmRule(Row(1, "RunCount > 3"), error));
  std::map<std::string, AlarmRules::Program, std::less<>> programs;
  programs.emplace("a1Prod", std::make_shared<const ProductAlarms>(std::move(compiled)));
  rules.Replace(std::move(programs));
  CHECK(rules.Any());
  CHECK(f.Run(post, R"({"id":"3","params":{"RunCount":5}})").telemetry->alarms == rules.For("a1Prod"));
  CHECK(f.Run("/sys/a1Prod/dev1/thing/event/LowBattery/post",
              R"({"id":"4","params":{"value":{"Level":1,"Since":"1"}}})")
            .telemetry->alarms);
  // History posts are backfill: not evaluated.
  auto history = f.Run("/sys/a1Prod/dev1/thing/event/property/history/post",
                       R"({"id":"5","params":[{"identity":{"productKey":"a1Prod","deviceName":"dev1"},)"
                       R"("properties":[{"RunCount":{"value":5,"time":1699999990000}}]}]})");
  REQUIRE(history.telemetry);
  CHECK_FALSE(history.telemetry->alarms);
  // A gateway's pack post: its own part and each sub-device's part carry their own product's program.
  f.source.devices["a1Prod/sub0001"] = DeviceEntry{21, true, "a1Prod", "dev1"};
  auto pack = f.Run("/sys/a1Prod/dev1/thing/event/property/pack/post",
                    R"({"id":"6","params":{"properties":{"RunCount":5},"subDevices":[{"identity":)"
                    R"({"productKey":"a1Prod","deviceName":"sub0001"},"properties":{"RunCount":7}}]}})");
  REQUIRE(pack.reply);
  REQUIRE(pack.reply->code == 200);
  CHECK(pack.telemetry->alarms == rules.For("a1Prod"));
  REQUIRE(pack.parts.size() == 1);
  CHECK(pack.parts[0].alarms == rules.For("a1Prod"));
}

}  // namespace iot::gateway

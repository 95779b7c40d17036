// iot-devsim's pure parts: values inside the specs (checked by the platform's own validator in
// strict mode), invalid values refused, post plans, latency percentiles, options.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "iot/tsl/parser.hpp"
#include "iot/tsl/validator.hpp"
#include "options.hpp"
#include "simulator.hpp"
#include "stats.hpp"
#include "values.hpp"

using namespace iot::devsim;
using nlohmann::json;

namespace {

constexpr std::int64_t kNow = 1767225600000;

iot::tsl::ThingModel ReferenceModel() {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/tsl/valid/reference_example.json");
  std::stringstream s;
  s << in.rdbuf();
  auto parsed = iot::tsl::ParseModule(s.str());
  REQUIRE(parsed.module);
  return iot::tsl::ThingModel(std::move(*parsed.module), {});
}

}  // namespace

TEST_CASE("Devsim values: drawn inside every property's specs (strict validation accepts them)",
          "[devsim][values]") {
  const auto model = ReferenceModel();
  const iot::tsl::Validator strict(&model, iot::tsl::Mode::kStrict);
  ValueGenerator values(3);
  for (int round = 0; round < 200; ++round) {
    json params = json::object();
    for (const auto& p : model.default_module().properties) {
      params[p.identifier] = values.Valid(p.data_type, kNow);
    }
    auto report = strict.PropertyPost(params, kNow);
    REQUIRE(report.request_ok());
    for (const auto& r : report.refused) {
      FAIL(r.identifier << ": " << r.message << " in " << params.dump());
    }
  }
}

TEST_CASE("Devsim values: event and service outputs are valid", "[devsim][values]") {
  const auto model = ReferenceModel();
  const iot::tsl::Validator strict(&model, iot::tsl::Mode::kStrict);
  ValueGenerator values(5);
  for (int round = 0; round < 50; ++round) {
    for (const auto& e : model.default_module().events) {
      auto report = strict.EventPost(e.identifier, values.ValidParams(e.outputs, kNow), kNow);
      CHECK(report.all_accepted());
    }
    for (const auto& s : model.default_module().services) {
      auto report = strict.ServiceOutput(s.identifier, values.ValidParams(s.outputs, kNow), kNow);
      CHECK(report.all_accepted());
    }
  }
}

TEST_CASE("Devsim values: invalid values are refused even in weak mode", "[devsim][values]") {
  const auto model = ReferenceModel();
  const iot::tsl::Validator weak(&model, iot::tsl::Mode::kWeak);
  ValueGenerator values(9);
  for (const auto& p : model.default_module().properties) {
    json params = {{p.identifier, values.Invalid(p.data_type)}};
    auto report = weak.PropertyPost(params, kNow);
    REQUIRE(report.request_ok());
    INFO(p.identifier << " = " << params.dump());
    CHECK(report.refused.size() == 1);
  }
}

TEST_CASE("Devsim post plans: distinct properties - events by share - exactly one invalid value",
          "[devsim][plan]") {
  const auto model = ReferenceModel();
  const auto& module = model.default_module();
  const iot::tsl::Validator weak(&model, iot::tsl::Mode::kWeak);
  ValueGenerator values(11);
  Options o;
  o.properties_per_post = 3;
  o.event_share = 0.5;
  o.invalid_share = 0.5;
  int events = 0, invalid = 0;
  for (int i = 0; i < 400; ++i) {
    PostPlan plan = MakePost(module, values, o, kNow);
    events += plan.event ? 1 : 0;
    invalid += plan.invalid ? 1 : 0;
    if (plan.event) {
      auto report = weak.EventPost(plan.event_id, plan.params, kNow);
      CHECK(report.refused.size() == (plan.invalid ? 1U : 0U));
    } else {
      CHECK(plan.params.size() == 3);
      auto report = weak.PropertyPost(plan.params, kNow);
      CHECK(report.refused.size() == (plan.invalid ? 1U : 0U));
    }
  }
  CHECK(events > 100);
  CHECK(events < 300);
  CHECK(invalid > 100);
  CHECK(invalid < 300);
}

TEST_CASE("Devsim sensor workload: values inside their specs that move little, a fixed set a device",
          "[devsim][values][sensor]") {
  const auto model = ReferenceModel();
  const auto& module = model.default_module();
  const iot::tsl::Validator strict(&model, iot::tsl::Mode::kStrict);
  SensorValues values(21);
  Options o;
  std::vector<std::size_t> all(module.properties.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    all[i] = i;
  }
  std::map<std::string, json> previous;
  std::map<std::string, int> changes;
  constexpr int kPosts = 500;
  for (int post = 0; post < kPosts; ++post) {
    PostPlan plan = MakeSensorPost(module, values, o, 0, all, kNow + post * 1000);
    REQUIRE_FALSE(plan.invalid);
    REQUIRE(plan.params.size() == all.size());
    CHECK(strict.PropertyPost(plan.params, kNow).refused.empty());
    for (const auto& p : module.properties) {
      const json& v = plan.params[p.identifier];
      if (previous.count(p.identifier) != 0 && previous[p.identifier] != v) {
        ++changes[p.identifier];
        const auto& t = p.data_type;
        if (t.kind == iot::tsl::DataKind::kFloat || t.kind == iot::tsl::DataKind::kDouble) {
          // A step is at most 1/100 of the range (plus rounding to the step's decimals).
          const double range = t.max_value.value_or(1000) - t.min_value.value_or(-1000);
          CHECK(std::abs(v.get<double>() - previous[p.identifier].get<double>()) <= range / 100 + 0.01);
        } else if (t.kind == iot::tsl::DataKind::kInt) {
          CHECK(std::abs(v.get<std::int64_t>() - previous[p.identifier].get<std::int64_t>()) == 1);
        }
      }
      previous[p.identifier] = v;
    }
  }
  for (const auto& p : module.properties) {
    INFO(p.identifier);
    switch (p.data_type.kind) {
      case iot::tsl::DataKind::kInt:  // a post in five
        CHECK(changes[p.identifier] > kPosts / 10);
        CHECK(changes[p.identifier] < kPosts / 3);
        break;
      case iot::tsl::DataKind::kBool:
      case iot::tsl::DataKind::kEnum:  // a post in fifty, and not always to another key
        CHECK(changes[p.identifier] < kPosts / 15);
        break;
      case iot::tsl::DataKind::kText: CHECK(changes[p.identifier] == 0); break;
      default: break;
    }
  }
  // Another device walks its own values; invalid posts replace exactly one value.
  o.invalid_share = 1;
  PostPlan bad = MakeSensorPost(module, values, o, 1, all, kNow);
  CHECK(bad.invalid);
  const iot::tsl::Validator weak(&model, iot::tsl::Mode::kWeak);
  CHECK(weak.PropertyPost(bad.params, kNow).refused.size() == 1);
}

TEST_CASE("Devsim stats: nearest-rank percentiles and the summary", "[devsim][stats]") {
  std::vector<std::uint32_t> samples;
  for (std::uint32_t i = 100; i >= 1; --i) {
    samples.push_back(i * 1000);  // 1..100 ms
  }
  auto p = ComputePercentiles(samples);
  CHECK(p.p50 == 50.0);
  CHECK(p.p90 == 90.0);
  CHECK(p.p99 == 99.0);
  CHECK(p.max == 100.0);
  std::vector<std::uint32_t> none;
  CHECK(ComputePercentiles(none).count == 0);

  Stats stats;
  iot::device::Reply ok;
  ok.outcome = iot::device::Outcome::kReplied;
  ok.code = 200;
  ok.latency = std::chrono::milliseconds(4);
  iot::device::Reply refused = ok;
  refused.refusals = {{"Temp", 6306, "bad"}, {"Label", 6310, "bad"}};
  iot::device::Reply event_refused = ok;
  event_refused.code = 6306;
  iot::device::Reply lost;
  lost.outcome = iot::device::Outcome::kTimedOut;
  for (int i = 0; i < 4; ++i) {
    stats.Sent();
  }
  stats.Record(ok);
  stats.Record(refused);
  stats.Record(event_refused);
  stats.Record(lost);
  json s = stats.Summary(2.0, 1, 1, 5);
  CHECK(s["sent"] == 4);
  CHECK(s["answered"] == 3);
  CHECK(s["accepted"] == 1);
  CHECK(s["refused"] == 2);
  CHECK(s["refusedItems"] == 3);
  CHECK(s["timeouts"] == 1);
  CHECK(s["resends"] == 5);
  CHECK(s["achievedRate"] == 1.5);
  CHECK(s["refusalsByCode"] == json{{"6306", 2}, {"6310", 1}});
  CHECK(s["latencyMs"]["p50"] == 4.0);
}

TEST_CASE("Devsim options: values and defaults and clear errors", "[devsim][options]") {
  std::string print;
  Options o = ParseOptions({"--product", "pk01", "--devices", "5", "--rate=2.5", "--json", "--qos", "0"},
                           "tok", print);
  CHECK(print.empty());
  CHECK(o.product_key == "pk01");
  CHECK(o.devices == 5);
  CHECK(o.rate == 2.5);
  CHECK(o.json);
  CHECK(o.qos == 0);
  CHECK(o.token == "tok");
  CHECK(o.progress);
  CHECK(o.devices == 5);
  CHECK_FALSE(ParseOptions({"--product", "p", "--no-progress"}, "tok", print).progress);
  const Options tls = ParseOptions(
      {"--product", "p", "--api", "https://api.example:8443", "--api-ca", "/ca.pem"}, "tok", print);
  CHECK(tls.api_url == "https://api.example:8443");
  CHECK(tls.api_ca_file == "/ca.pem");
  ParseOptions({"--help"}, "", print);
  CHECK_THAT(print, Catch::Contains("usage: iot-devsim --product PK") &&
                        Catch::Contains("--reply-timeout-ms") && Catch::Contains("--api-ca"));
  ParseOptions({"--version"}, "", print);
  CHECK_THAT(print, Catch::StartsWith("iot-devsim "));
  CHECK_THROWS_WITH(ParseOptions({"--devices", "5"}, "tok", print), Catch::Contains("--product"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--rate", "fast"}, "tok", print),
                    Catch::Contains("--rate"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--bogus"}, "tok", print), Catch::Contains("--bogus"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--devices"}, "tok", print),
                    Catch::Contains("--devices"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p"}, "", print), Catch::Contains("token"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--invalid", "1.5"}, "tok", print),
                    Catch::Contains("--invalid"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--devices", "-1"}, "tok", print),
                    Catch::Contains("--devices"));
  // Sensor workload and its periods.
  const Options sensor =
      ParseOptions({"--product", "p", "--workload", "sensor", "--period", "2:30"}, "tok", print);
  CHECK(sensor.workload == "sensor");
  CHECK(sensor.period_min_s == 2);
  CHECK(sensor.period_max_s == 30);
  CHECK(ParseOptions({"--product", "p"}, "tok", print).workload == "random");
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--workload", "bursty"}, "tok", print),
                    Catch::Contains("--workload"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--period", "30:2"}, "tok", print),
                    Catch::Contains("--period"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--period", "x"}, "tok", print),
                    Catch::Contains("--period"));
  // Gateway mode: one gateway carries at most 1500 sub-devices.
  CHECK(ParseOptions({"--product", "p", "--gateway-product", "gw", "--devices", "1500"}, "tok", print)
            .gateway_product == "gw");
  CHECK(ParseOptions({"--product", "p"}, "tok", print).gateway_product.empty());
  CHECK_THROWS_WITH(
      ParseOptions({"--product", "p", "--gateway-product", "gw", "--devices", "1501"}, "tok", print),
      Catch::Contains("1500"));
  // OTA: upgrading devices with failure and cut rates.
  const Options ota = ParseOptions(
      {"--product", "p", "--firmware-version", "1.0.0", "--ota-fail-rate", "0.25", "--ota-cut-rate", "0.5"},
      "tok", print);
  CHECK(ota.firmware_version == "1.0.0");
  CHECK(ota.ota_fail_share == 0.25);
  CHECK(ota.ota_cut_share == 0.5);
  CHECK(ParseOptions({"--product", "p"}, "tok", print).firmware_version.empty());
  CHECK_THROWS_WITH(
      ParseOptions({"--product", "p", "--firmware-version", "1", "--ota-fail-rate", "2"}, "tok", print),
      Catch::Contains("--ota-fail-rate"));
  CHECK_THROWS_WITH(ParseOptions({"--product", "p", "--ota-cut-rate", "0.5"}, "tok", print),
                    Catch::Contains("--firmware-version"));
  CHECK_THROWS_WITH(
      ParseOptions({"--product", "p", "--gateway-product", "gw", "--firmware-version", "1"}, "tok", print),
      Catch::Contains("direct devices only"));
}

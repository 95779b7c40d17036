// Parse + validate and validate-only of a realistic 10-property post (the reference §1.6 example)
// in each validation mode. Run: build-tsl/bench/bench_tsl_validate (Release build).

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "iot/common/json.hpp"
#include "iot/tsl/parser.hpp"
#include "iot/tsl/validator.hpp"

namespace {

using nlohmann::json;

constexpr std::int64_t kNow = 1700000000000;

std::string ReadFixture(const char* relative) {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/tsl/" + relative, std::ios::binary);
  if (!in) {
    throw std::runtime_error(std::string("missing fixture ") + relative);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const iot::tsl::ThingModel& Model() {
  static const iot::tsl::ThingModel model = [] {
    auto result = iot::tsl::ParseThingModel(ReadFixture("valid/reference_example.json"));
    if (!result.ok()) {
      throw std::runtime_error("reference model does not parse");
    }
    return std::move(*result.model);
  }();
  return model;
}

const std::string& PostText() {
  static const std::string text = ReadFixture("payloads/reference_post.json");
  return text;
}

iot::tsl::Mode ModeOf(const benchmark::State& state) { return static_cast<iot::tsl::Mode>(state.range(0)); }

void SetLabel(benchmark::State& state) {
  state.SetLabel(std::string(iot::tsl::ModeName(ModeOf(state))));
  state.SetItemsProcessed(state.iterations());  // items = posts
}

// What the gateway does per message: parse the envelope, validate params.
void BM_ParseAndValidate(benchmark::State& state) {
  const iot::tsl::Validator validator(&Model(), ModeOf(state));
  iot::tsl::Report report;
  for (auto _ : state) {
    const json message = json::parse(PostText(), nullptr, false);
    validator.PropertyPost(message["params"], kNow, report);
    benchmark::DoNotOptimize(report.accepted.data());
  }
  if (report.accepted.size() != 10) {
    state.SkipWithError("post not fully accepted");
  }
  SetLabel(state);
}

// The same through iot::ParseJson, the parser the gateway's decode (and every outside JSON) uses: its
// fast reader, nlohmann only when the reader gives up. BM_ParseAndValidate is the baseline beside it.
void BM_IotParseJsonAndValidate(benchmark::State& state) {
  const iot::tsl::Validator validator(&Model(), ModeOf(state));
  iot::tsl::Report report;
  for (auto _ : state) {
    json message;
    if (iot::ParseJson(PostText(), message) != iot::JsonParseStatus::kOk) {
      state.SkipWithError("post does not parse");
      break;
    }
    validator.PropertyPost(message["params"], kNow, report);
    benchmark::DoNotOptimize(report.accepted.data());
  }
  if (report.accepted.size() != 10) {
    state.SkipWithError("post not fully accepted");
  }
  SetLabel(state);
}

void BM_ValidateOnly(benchmark::State& state) {
  const iot::tsl::Validator validator(&Model(), ModeOf(state));
  const json message = json::parse(PostText());
  const json& params = message["params"];
  iot::tsl::Report report;
  for (auto _ : state) {
    validator.PropertyPost(params, kNow, report);
    benchmark::DoNotOptimize(report.accepted.data());
  }
  if (report.accepted.size() != 10) {
    state.SkipWithError("post not fully accepted");
  }
  SetLabel(state);
}

// Validate-only with a fresh Report each time (the allocating convenience overload).
void BM_ValidateOnlyFreshReport(benchmark::State& state) {
  const iot::tsl::Validator validator(&Model(), ModeOf(state));
  const json message = json::parse(PostText());
  const json& params = message["params"];
  for (auto _ : state) {
    iot::tsl::Report report = validator.PropertyPost(params, kNow);
    benchmark::DoNotOptimize(report.accepted.data());
  }
  SetLabel(state);
}

void BM_ParseOnly(benchmark::State& state) {
  for (auto _ : state) {
    const json message = json::parse(PostText(), nullptr, false);
    benchmark::DoNotOptimize(&message);
  }
  state.SetItemsProcessed(state.iterations());
}

constexpr int kNone = static_cast<int>(iot::tsl::Mode::kNone);
constexpr int kWeak = static_cast<int>(iot::tsl::Mode::kWeak);
constexpr int kStrict = static_cast<int>(iot::tsl::Mode::kStrict);

// Same parse from a raw pointer range: nlohmann's contiguous-memory adapter is slightly cheaper
// than std::string iterators.
void BM_ParseOnlyPointers(benchmark::State& state) {
  const std::string& text = PostText();
  for (auto _ : state) {
    const json message = json::parse(text.data(), text.data() + text.size(), nullptr, false);
    benchmark::DoNotOptimize(&message);
  }
  state.SetItemsProcessed(state.iterations());
}

// iot::ParseJson alone (fast reader into the nlohmann DOM).
void BM_IotParseJsonOnly(benchmark::State& state) {
  for (auto _ : state) {
    json message;
    benchmark::DoNotOptimize(iot::ParseJson(PostText(), message));
    benchmark::DoNotOptimize(&message);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_ParseOnly);
BENCHMARK(BM_ParseOnlyPointers);
BENCHMARK(BM_IotParseJsonOnly);
BENCHMARK(BM_ParseAndValidate)->Arg(kNone)->Arg(kWeak)->Arg(kStrict);
BENCHMARK(BM_IotParseJsonAndValidate)->Arg(kNone)->Arg(kWeak)->Arg(kStrict);
BENCHMARK(BM_ValidateOnly)->Arg(kNone)->Arg(kWeak)->Arg(kStrict);
BENCHMARK(BM_ValidateOnlyFreshReport)->Arg(kWeak);

}  // namespace

BENCHMARK_MAIN();

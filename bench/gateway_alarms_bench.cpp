// The cost of alarm rules on ingest: TelemetryWriter::Write of batches of property posts (5 numeric
// properties each, 1,000 devices) without alarm rules, with 10 condition rules per product that never
// hold (the usual case: every rule reads a posted identifier and is evaluated, nothing is open), and with
// 10 rules one of which always holds (every post counts a repeat of an open alarm). Real PostgreSQL with
// durable settings; needs IOT_BENCH_PG_DSN (a database it may migrate and fill). See docs/BENCHMARKS.md.
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "alarms.hpp"
#include "iot/store/alarms.hpp"
#include "store_writer_bench_support.hpp"

namespace {

using namespace iot::store;
using iot::bench::kPropertiesPerMessage;

constexpr int kRules = 10;

// A product with its devices and rules; `firing` rules of them always hold.
struct Product {
  std::vector<std::int64_t> devices;
  std::shared_ptr<const AlarmProgram> program;
};

Product MakeProduct(Db& db, int rules, int firing) {
  std::string pk;
  Product out;
  out.devices = iot::bench::BenchDevices(db, "alarm", pk);
  if (rules == 0) {
    return out;
  }
  std::vector<iot::gateway::CompiledAlarmRule> compiled;
  for (int i = 0; i < rules; ++i) {
    AlarmRule rule;
    rule.product_key = pk;
    rule.name = "rule " + std::to_string(i);
    rule.severity = "major";
    const std::string id = "prop" + std::to_string(i % kPropertiesPerMessage);
    rule.when = i < firing ? id + " >= 0" : id + " > 1e9 && " + id + " != 3";
    auto created = CreateAlarmRule(db, rule);
    if (!created) {
      std::abort();
    }
    std::string error;
    compiled.push_back(*iot::gateway::CompileAlarmRule(*created, error));
  }
  out.program = std::make_shared<const iot::gateway::ProductAlarms>(std::move(compiled));
  return out;
}

// range(0): rules per product, range(1): how many of them always hold, range(2): messages per batch.
void BM_WriteWithAlarmRules(benchmark::State& state) {
  Db& db = iot::bench::BenchDatabase();
  const Product product = MakeProduct(db, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  TelemetryWriter writer(db);
  const int batch_size = static_cast<int>(state.range(2));
  std::int64_t seq = 0;
  const auto base = iot::NowMs();
  std::vector<TelemetryMessage> batch(static_cast<std::size_t>(batch_size));
  for (auto _ : state) {
    state.PauseTiming();
    iot::bench::FillBatch(batch, product.devices, seq, base);
    for (auto& m : batch) {
      m.alarms = product.program;
    }
    state.ResumeTiming();
    auto r = writer.Write(batch);
    if (!r) {
      state.SkipWithError("write failed");
      break;
    }
  }
  iot::bench::SetMessageCounters(state, batch_size);
  state.counters["alarm_failures"] = static_cast<double>(writer.Stats().alarm_failures);
}

// Interleaved so that a change of the machine's load hits every case alike.
BENCHMARK(BM_WriteWithAlarmRules)
    ->Args({0, 0, 100})
    ->Args({kRules, 0, 100})
    ->Args({kRules, 1, 100})
    ->Args({0, 0, 100})
    ->Args({kRules, 0, 100})
    ->Args({kRules, 1, 100})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5);

}  // namespace

BENCHMARK_MAIN();

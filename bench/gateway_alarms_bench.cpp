// The cost of alarm rules on ingest: TelemetryWriter::Write of batches of property posts (5 numeric
// properties each, 1,000 devices) without alarm rules, with 10 condition rules per product that never
// hold (the usual case: every rule reads a posted identifier and is evaluated, nothing is open), and with
// 10 rules one of which always holds (every post counts a repeat of an open alarm). Real PostgreSQL with
// durable settings; needs IOT_BENCH_PG_DSN (a database it may migrate and fill). See docs/BENCHMARKS.md.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "alarms.hpp"
#include "iot/common/clock.hpp"
#include "iot/store/alarms.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"

namespace {

using namespace iot::store;

constexpr int kDevices = 1000;
constexpr int kPropertiesPerMessage = 5;
constexpr int kRules = 10;

// A product with its devices and rules; `firing` rules of them always hold.
struct Product {
  std::vector<std::int64_t> devices;
  std::shared_ptr<const AlarmProgram> program;
};

Product MakeProduct(Db& db, int rules, int firing) {
  static int n = 0;
  const std::string pk = "alarm" + std::to_string(iot::NowMs() % 1000000) + std::to_string(n++);
  (void)CreateProduct(db, ProductCreate{.product_key = pk, .name = "bench"});
  Product out;
  std::vector<DeviceCreate> req(kDevices);
  for (const auto& d : CreateDevices(db, pk, req).value()) {
    out.devices.push_back(d.id);
  }
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

Db& Database() {
  const char* dsn = std::getenv("IOT_BENCH_PG_DSN");
  if (dsn == nullptr) {
    std::fprintf(stderr, "set IOT_BENCH_PG_DSN\n");
    std::exit(2);
  }
  static const std::unique_ptr<Db> db = [&] {
    if (!Migrator(dsn).Migrate()) {
      std::abort();
    }
    return std::make_unique<Db>(DbSettings{.dsn = dsn});
  }();
  (void)EnsurePartitions(*db, iot::NowMs());
  return *db;
}

// range(0): rules per product, range(1): how many of them always hold, range(2): messages per batch.
void BM_WriteWithAlarmRules(benchmark::State& state) {
  Db& db = Database();
  const Product product = MakeProduct(db, static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  TelemetryWriter writer(db);
  const int batch_size = static_cast<int>(state.range(2));
  std::int64_t seq = 0;
  const auto base = iot::NowMs();
  std::vector<TelemetryMessage> batch(static_cast<std::size_t>(batch_size));
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < batch_size; ++i) {
      auto& m = batch[static_cast<std::size_t>(i)];
      ++seq;
      m.device_id = product.devices[static_cast<std::size_t>(seq % kDevices)];
      m.message_id = std::to_string(seq);
      m.payload_hash = static_cast<std::uint64_t>(seq);
      m.received_at = base + seq / 100;
      m.alarms = product.program;
      m.properties.clear();
      for (int p = 0; p < kPropertiesPerMessage; ++p) {
        m.properties.push_back(
            PropertyItem{"prop" + std::to_string(p), std::to_string(seq % 1000) + ".5", m.received_at});
      }
    }
    state.ResumeTiming();
    auto r = writer.Write(batch);
    if (!r) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.counters["us_per_msg"] = benchmark::Counter(static_cast<double>(state.iterations() * batch_size),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert,
                                                    benchmark::Counter::OneK::kIs1000);
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch_size), benchmark::Counter::kIsRate);
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

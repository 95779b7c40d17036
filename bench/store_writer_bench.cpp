// TelemetryWriter throughput against a real PostgreSQL (durable settings: fsync and synchronous_commit
// on). Needs IOT_BENCH_PG_DSN (a database it may migrate and fill). See docs/BENCHMARKS.md.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "store_writer_bench_support.hpp"

namespace {

using namespace iot::store;
using iot::bench::kPropertiesPerMessage;

// CPU seconds used so far by every process named "postgres" on this machine (postmaster, backends,
// WAL writer, checkpointer, and their reaped children): the database's whole cost, as bench/e2e.sh
// counts it. Needs the server on this machine and no other PostgreSQL busy.
double PostgresCpuSeconds() {
  double ticks = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    std::ifstream comm(entry.path() / "comm");
    std::string c;
    if (!std::getline(comm, c) || c != "postgres") {
      continue;
    }
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) {
      continue;
    }
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 17 && rest >> field; ++i) {
      if (i >= 14) {
        ticks += std::stod(field);  // utime, stime, cutime, cstime
      }
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

void BM_WriteBatch(benchmark::State& state) {
  Db& db = iot::bench::BenchDatabase();
  std::string pk;
  const auto devices = iot::bench::BenchDevices(db, "bench", pk);
  TelemetryWriter writer(db);
  const int batch_size = static_cast<int>(state.range(0));
  std::int64_t seq = 0;
  const auto base = iot::NowMs();
  std::vector<TelemetryMessage> batch(static_cast<std::size_t>(batch_size));
  const double pg_cpu_before = PostgresCpuSeconds();
  for (auto _ : state) {
    state.PauseTiming();
    iot::bench::FillBatch(batch, devices, seq, base);
    state.ResumeTiming();
    auto r = writer.Write(batch);
    if (!r) {
      state.SkipWithError("write failed");
      break;
    }
  }
  const double messages = static_cast<double>(state.iterations() * batch_size);
  state.counters["pg_cpu_us_per_msg"] = (PostgresCpuSeconds() - pg_cpu_before) * 1e6 / messages;
  state.SetItemsProcessed(state.iterations() * batch_size * kPropertiesPerMessage);  // rows/s
  iot::bench::SetMessageCounters(state, batch_size);
}

BENCHMARK(BM_WriteBatch)
    ->Arg(25)
    ->Arg(100)
    ->Arg(500)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(5);

}  // namespace

BENCHMARK_MAIN();

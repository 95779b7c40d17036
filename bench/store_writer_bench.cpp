// TelemetryWriter throughput against a real PostgreSQL (durable settings: fsync and synchronous_commit
// on). Needs IOT_BENCH_PG_DSN (a database it may migrate and fill). See docs/BENCHMARKS.md.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "iot/common/clock.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"

namespace {

using namespace iot::store;

constexpr int kDevices = 1000;
constexpr int kPropertiesPerMessage = 5;

struct Setup {
  Db db;
  std::vector<std::int64_t> devices;
  explicit Setup(const std::string& dsn) : db(DbSettings{.dsn = dsn}) {
    if (!Migrator(dsn).Migrate()) {
      std::abort();
    }
    const auto now = iot::NowMs();
    (void)EnsurePartitions(db, now);
    const std::string pk = "bench" + std::to_string(now % 1000000);
    (void)CreateProduct(db, ProductCreate{.product_key = pk, .name = "bench"});
    std::vector<DeviceCreate> req(kDevices);
    for (const auto& d : CreateDevices(db, pk, req).value()) {
      devices.push_back(d.id);
    }
  }
};

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

Setup& Shared() {
  const char* dsn = std::getenv("IOT_BENCH_PG_DSN");
  if (dsn == nullptr) {
    std::fprintf(stderr, "set IOT_BENCH_PG_DSN\n");
    std::exit(2);
  }
  static Setup setup(dsn);
  return setup;
}

void BM_WriteBatch(benchmark::State& state) {
  auto& s = Shared();
  TelemetryWriter writer(s.db);
  const int batch_size = static_cast<int>(state.range(0));
  std::int64_t seq = 0;
  const auto base = iot::NowMs();
  std::vector<TelemetryMessage> batch(static_cast<std::size_t>(batch_size));
  const double pg_cpu_before = PostgresCpuSeconds();
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < batch_size; ++i) {
      auto& m = batch[static_cast<std::size_t>(i)];
      ++seq;
      m.device_id = s.devices[static_cast<std::size_t>(seq % kDevices)];
      m.message_id = std::to_string(seq);
      m.payload_hash = static_cast<std::uint64_t>(seq);
      m.received_at = base + seq / 100;
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
  const double messages = static_cast<double>(state.iterations() * batch_size);
  state.counters["pg_cpu_us_per_msg"] = (PostgresCpuSeconds() - pg_cpu_before) * 1e6 / messages;
  state.SetItemsProcessed(state.iterations() * batch_size * kPropertiesPerMessage);  // rows/s
  state.counters["us_per_msg"] = benchmark::Counter(static_cast<double>(state.iterations() * batch_size),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert,
                                                    benchmark::Counter::OneK::kIs1000);
  state.counters["msgs_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch_size), benchmark::Counter::kIsRate);
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

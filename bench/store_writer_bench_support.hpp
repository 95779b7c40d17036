#pragma once
// What the TelemetryWriter benchmarks (store_writer_bench, gateway_alarms_bench) share: the database
// (IOT_BENCH_PG_DSN, migrated once), a product of 1,000 devices, batches of 5-property posts, and the
// per-message counters. Header-only: each benchmark is one executable.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "iot/common/clock.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/store/telemetry_writer.hpp"

namespace iot::bench {

inline constexpr int kDevices = 1000;
inline constexpr int kPropertiesPerMessage = 5;

// The benchmark database, migrated on first use, with this hour's partitions.
inline store::Db& BenchDatabase() {
  // Read on the benchmark's main thread before any thread of its own starts.
  const char* dsn = std::getenv("IOT_BENCH_PG_DSN");  // NOLINT(concurrency-mt-unsafe)
  if (dsn == nullptr) {
    std::fprintf(stderr, "set IOT_BENCH_PG_DSN\n");
    std::exit(2);  // NOLINT(concurrency-mt-unsafe)
  }
  static const std::unique_ptr<store::Db> db = [&] {
    if (!store::Migrator(dsn).Migrate()) {
      std::abort();
    }
    return std::make_unique<store::Db>(store::DbSettings{.dsn = dsn});
  }();
  (void)store::EnsurePartitions(*db, NowMs());
  return *db;
}

// A new product (its key `prefix` + a number, set in `pk`) with kDevices devices; their ids.
inline std::vector<std::int64_t> BenchDevices(store::Db& db, const std::string& prefix, std::string& pk) {
  static int n = 0;
  pk = prefix + std::to_string(NowMs() % 1000000) + std::to_string(n++);
  (void)store::CreateProduct(db, store::ProductCreate{.product_key = pk, .name = "bench"});
  std::vector<std::int64_t> ids;
  std::vector<store::DeviceCreate> req(kDevices);
  for (const auto& d : store::CreateDevices(db, pk, req).value()) {
    ids.push_back(d.id);
  }
  return ids;
}

// Refills `batch` with the next property posts (kPropertiesPerMessage numeric values each), round-robin
// over `devices`, numbered from `seq`.
inline void FillBatch(std::vector<store::TelemetryMessage>& batch, const std::vector<std::int64_t>& devices,
                      std::int64_t& seq, store::TimeMs base) {
  for (auto& m : batch) {
    ++seq;
    m.device_id = devices[static_cast<std::size_t>(seq % static_cast<std::int64_t>(devices.size()))];
    m.message_id = std::to_string(seq);
    m.payload_hash = static_cast<std::uint64_t>(seq);
    m.received_at = base + seq / 100;
    m.properties.clear();
    for (int p = 0; p < kPropertiesPerMessage; ++p) {
      m.properties.push_back(
          store::PropertyItem{"prop" + std::to_string(p), std::to_string(seq % 1000) + ".5", m.received_at});
    }
  }
}

// us_per_msg (wall time per message) and msgs_per_s.
inline void SetMessageCounters(benchmark::State& state, int batch_size) {
  const auto messages = static_cast<double>(state.iterations() * batch_size);
  state.counters["us_per_msg"] = benchmark::Counter(
      messages, benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::OneK::kIs1000);
  state.counters["msgs_per_s"] = benchmark::Counter(messages, benchmark::Counter::kIsRate);
}

}  // namespace iot::bench

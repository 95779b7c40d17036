// iot-compact-bench --dsn DSN --days N: runs store::RollUp, store::CompactHistory and store::CleanDedupe
// with the clock N days ahead until nothing is left, so every stored day is closed and compacted as it
// would be N days later; prints what moved and how long it took (wall and this process's CPU) as JSON.
// A benchmark tool: it moves the rollups' horizon into the future, never run it on a live platform.
#include <chrono>
#include <ctime>
#include <iostream>
#include <string>
#include <thread>

#include "iot/cli/command_line.hpp"
#include "iot/store/compaction.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/rollups.hpp"

namespace {

double CpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

[[noreturn]] void Die(const std::string& what, const std::error_code& e) {
  std::cerr << "iot-compact-bench: " << what << ": " << e.message() << "\n";
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dsn;
  int days = 2;
  iot::cli::CommandLine line(
      "iot-compact-bench", "iot-compact-bench --dsn DSN [--days N]",
      "Rolls up and compacts stored history as if N days had passed (benchmarks only).");
  line.Options()("dsn", iot::cli::po::value<std::string>(&dsn)->required(), "PostgreSQL connection string")(
      "days", iot::cli::po::value<int>(&days)->default_value(2), "days ahead of now");
  if (auto exit_code = line.Parse(argc, argv)) {
    return *exit_code;
  }
  iot::store::Db db(iot::store::DbSettings{.dsn = dsn});
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count() +
                   static_cast<std::int64_t>(days) * 86400000;
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  for (int rounds = 0; rounds < 1000000; ++rounds) {  // rollups first: compaction waits for them
    auto r = iot::store::RollUp(db, now);
    if (!r) {
      Die("RollUp", r.error());
    }
    if (r->waiting || r->busy) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else if (!r->more) {
      break;
    }
  }
  const auto wall1 = std::chrono::steady_clock::now();
  const double cpu1 = CpuSeconds();
  iot::store::CompactionReport total;
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    auto r = iot::store::CompactHistory(db, now);
    if (!r) {
      Die("CompactHistory", r.error());
    }
    total.rows += r->rows;
    total.values += r->values;
    total.blocks += r->blocks;
    total.block_bytes += r->block_bytes;
    total.emptied.insert(total.emptied.end(), r->emptied.begin(), r->emptied.end());
    if (r->busy) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else if (!r->more) {
      break;
    }
  }
  const auto wall2 = std::chrono::steady_clock::now();
  const double cpu2 = CpuSeconds();
  if (auto cleaned = iot::store::CleanDedupe(db, now); !cleaned) {
    Die("CleanDedupe", cleaned.error());
  }
  const auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::cout << "{\"rollupSeconds\": " << secs(wall0, wall1)
            << ", \"compactionSeconds\": " << secs(wall1, wall2)
            << ", \"compactionCpuSeconds\": " << (cpu2 - cpu1) << ", \"rollupCpuSeconds\": " << (cpu1 - cpu0)
            << ", \"rows\": " << total.rows << ", \"values\": " << total.values
            << ", \"blocks\": " << total.blocks << ", \"blockBytes\": " << total.block_bytes
            << ", \"partitionsEmptied\": " << total.emptied.size() << "}\n";
  return 0;
}

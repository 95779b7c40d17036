#pragma once

// Background work of iot-api that runs off the I/O threads: readiness probes (PostgreSQL ping through
// the DB pool, TCP connect to the MQTT broker) and periodic store maintenance (partitions, retention,
// dedupe keys). iot-api is the one service that runs the maintenance; the gateway does not.

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http/operations.hpp"
#include "iot/common/prometheus.hpp"
#include "iot/store/compaction.hpp"
#include "iot/store/db.hpp"
#include "iot/store/pool.hpp"
#include "iot/store/rollups.hpp"

namespace iot::api {

// Last observed state of one dependency; Ready() never blocks.
class ProbeState final : public ReadinessProbe {
 public:
  explicit ProbeState(std::string name) : name_(std::move(name)) {}
  std::string Name() const override { return name_; }
  bool Ready(std::string& detail) const override;
  void Set(bool ok, std::string detail);

 private:
  std::string name_;
  mutable std::mutex mutex_;
  bool ok_ = false;
  std::string detail_ = "not checked yet";
};

struct BackgroundSettings {
  std::chrono::milliseconds probe_interval{2000};
  std::string mqtt_host;  // "" = no broker probe
  int mqtt_port = 1883;
  std::chrono::seconds maintenance_interval{600};  // 0 = no maintenance
  store::DbSettings maintenance_db;                // its own connection, not a pool worker
  int messages_per_device = 10000;                 // custom-topic messages kept per device and direction
  std::chrono::seconds rollup_interval{10};        // 0 = rollups not maintained by this process
  store::DbSettings rollup_db;                     // its own connection too
  store::RollupSettings rollup;
  std::chrono::seconds compaction_interval{300};  // 0 = closed days not compacted by this process
  store::DbSettings compaction_db;
};

class Background final {
 public:
  Background(store::DbPool& pool, BackgroundSettings settings);
  ~Background();  // Stop()
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // Registers the probes with `readiness` (call before the server starts).
  void AddProbes(Readiness& readiness);
  // The rollups' and compaction's gauges (iot_rollup_*, iot_compaction_*), when this process runs them.
  void AddGauges(metrics::Registry& metrics);
  void Start();
  void Stop();

 private:
  void ProbeLoop();
  void MaintenanceLoop();
  void RollupLoop();
  void CompactionLoop();
  bool WaitFor(std::chrono::milliseconds delay);  // false when stopping

  store::DbPool& pool_;
  BackgroundSettings settings_;
  std::shared_ptr<ProbeState> db_probe_;
  std::shared_ptr<ProbeState> broker_probe_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread probe_thread_;
  std::thread maintenance_thread_;
  std::thread rollup_thread_;
  std::thread compaction_thread_;
  // Read after each rollup round; NaN until the first.
  std::atomic<double> rollup_lag_s_{std::numeric_limits<double>::quiet_NaN()};
  std::atomic<double> rollup_late_waiting_{std::numeric_limits<double>::quiet_NaN()};
  std::atomic<std::uint64_t> rollup_failures_{0};
  std::atomic<std::uint64_t> compacted_rows_{0};
  std::atomic<std::uint64_t> compaction_failures_{0};
};

// True when a TCP connection to host:port succeeds within `timeout` (blocking; background threads only).
bool TcpReachable(const std::string& host, int port, std::chrono::milliseconds timeout, std::string& error);

}  // namespace iot::api

#pragma once

// The OTA job driver: rolls running upgrade jobs out to their devices. Every iot-api instance runs
// one; only the holder of the PostgreSQL lease "ota-jobs" acts, renewing it every tick, so with several
// instances one drives and another takes over within the lease's time to live once it stops. Each tick
// steps every running job in its own transaction (store::StepOtaJob: timeouts and retries, a dynamic
// job's new devices, as many pushes as the job's concurrency and rate allow to devices that are
// online, completion) and publishes the pushes only after that transaction committed: a push is never
// sent for a task whose state is not stored, and a device that was offline gets its push on the first
// tick after it connects. Runs on a thread of its own with its own connection, never an I/O thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "iot/store/db.hpp"

namespace iot::api {

class Downlink;

struct OtaDriverSettings {
  store::DbSettings db;
  std::string holder;           // this instance's name in the lease (unique per process)
  std::string public_base_url;  // IOT_PUBLIC_BASE_URL: the base of the firmware links in pushes
  std::chrono::milliseconds tick{1000};
  std::chrono::milliseconds lease_ttl{10000};
  int max_pushes_per_tick = 1000;  // per job
};

class OtaDriver final {
 public:
  OtaDriver(Downlink& downlink, OtaDriverSettings settings);
  ~OtaDriver();  // Stop()
  OtaDriver(const OtaDriver&) = delete;
  OtaDriver& operator=(const OtaDriver&) = delete;

  void Start();
  void Stop();  // gives the lease up when held

 private:
  void Loop();
  void Tick();
  bool WaitFor(std::chrono::milliseconds delay);  // false when stopping

  Downlink& downlink_;
  OtaDriverSettings settings_;
  store::Db db_;
  std::optional<std::string> url_key_;  // loaded once (store::EnsureUrlSigningKey)
  bool holding_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace iot::api

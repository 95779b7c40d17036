#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "access.hpp"

namespace iot::store {
class Db;
}

namespace iot::broker {

// Keeps the DeviceDirectory current from PostgreSQL on a thread of its own, so the broker thread
// never waits for the database: a full load at start (and after a lost LISTEN connection), then one
// lookup per NOTIFY on the device channel. Devices that became disabled or were deleted are queued
// for the broker thread to disconnect (TakeKicks, from MOSQ_EVT_TICK).
class DirectorySync final {
 public:
  DirectorySync(std::string dsn, DeviceDirectory& directory);
  ~DirectorySync();
  DirectorySync(const DirectorySync&) = delete;
  DirectorySync& operator=(const DirectorySync&) = delete;

  // Loads every device once, synchronously (plugin start), and marks devices left online by a
  // previous broker run offline. Returns false when the database is unreachable; the background
  // thread keeps trying.
  bool InitialLoad();
  void Start();
  void Stop();

  // Devices to disconnect now. `recheck_all` is set after a full reload: every online device must
  // be checked against the directory. `changed` (when given) receives the keys (pk/dn) of every device
  // changed since the last call (sub-device sessions are rechecked against them).
  std::vector<std::pair<std::string, std::string>> TakeKicks(bool& recheck_all,
                                                             std::vector<std::string>* changed = nullptr);

  // Sub-devices of a gateway that were disabled and are enabled again (seen by NOTIFY, not by a full
  // reload): their gateway is told with thing.enable, as it was told thing.disable.
  struct EnabledSubDevice {
    std::string product_key;
    std::string device_name;
    std::string gateway_key;  // DeviceDirectory::Key of its gateway
  };
  std::vector<EnabledSubDevice> TakeEnabledSubDevices();

 private:
  void Run();
  bool LoadAll();
  void OnDeviceChanged(const std::string& payload);

  std::string dsn_;
  DeviceDirectory& directory_;
  std::unique_ptr<store::Db> db_;  // used by InitialLoad before Start, then by the sync thread only
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex kicks_mutex_;
  std::vector<std::pair<std::string, std::string>> kicks_;
  std::vector<std::string> changed_;
  std::vector<EnabledSubDevice> enabled_subs_;
  bool recheck_all_ = false;
};

}  // namespace iot::broker

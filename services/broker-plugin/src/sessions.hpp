#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "access.hpp"

namespace iot::broker {

// A lifecycle message to publish on /as/mqtt/status/{pk}/{dn}.
struct StatusChange {
  std::string product_key;
  std::string device_name;
  bool online = false;
  std::string client_ip;
  std::int64_t time_ms = 0;       // when the broker noticed
  std::int64_t last_time_ms = 0;  // the device's previous transition (0 when none)
  std::int64_t seq = 0;           // strictly increasing per device, also across broker restarts
};

// What a device may receive on its current connection: a token bucket of bytes per second, each
// message costing its payload plus kDownlinkMessageCost (so floods of tiny messages are bounded too);
// burst = kDownlinkBurstS seconds' worth. 0 disables the limit.
struct DownlinkLimits {
  double bytes_per_s = 1024 * 1024;
};
inline constexpr double kDownlinkMessageCost = 256;
inline constexpr double kDownlinkBurstS = 4;

enum class Downlink { kAllowed, kNotCurrent, kRateLimited };

struct ConnectOutcome {
  StatusChange online;
  std::optional<std::string> kick_client_id;  // the device's previous connection, to be replaced
};

// Which connection currently represents each device. Runs on the broker thread only (Mosquitto calls
// plugins from its main loop), so it needs no locking. Connections are told apart by the broker's
// client pointer: a replaced connection's disconnect is not the device going offline.
class Sessions final {
 public:
  explicit Sessions(DownlinkLimits limits = {}) : limits_(limits) {}
  void SetDownlinkLimits(DownlinkLimits limits) { limits_ = limits; }

  // A device authenticated on `client`. If it already had another connection, that one is to be
  // kicked and its disconnect will be suppressed.
  ConnectOutcome OnDeviceConnected(const void* client, std::string_view client_id, const Identity& identity,
                                   std::string_view client_ip, std::int64_t now_ms);

  // A device's connection closed (also keepalive timeouts and kicks). Returns the offline message
  // when it was the device's current connection.
  std::optional<StatusChange> OnDeviceDisconnected(const void* client, const Identity& identity,
                                                   std::int64_t now_ms);

  // The current connection's broker client id of a device, when it has one (for kicks on disable).
  std::optional<std::string> ClientIdOf(std::string_view product_key, std::string_view device_name) const;

  // May `client`, a session of the device, be handed a message of `bytes` now? Only the device's
  // current connection receives anything: parked persistent sessions (other client ids, or the
  // device offline) receive nothing, so they hold nothing. Within the downlink limits.
  Downlink AllowDownlink(const void* client, const Identity& identity, std::size_t bytes,
                         std::int64_t now_ms);

  std::size_t OnlineDevices() const { return by_device_.size(); }
  // Calls fn(product_key, device_name) for every device with a current connection.
  void ForEachOnline(const std::function<void(const std::string&, const std::string&)>& fn) const;

 private:
  struct DeviceConnection {
    std::string product_key;
    std::string device_name;
    const void* client = nullptr;
    std::string client_id;
    std::string client_ip;
    double tokens = 0;
    std::int64_t refilled_ms = 0;
  };
  struct DeviceHistory {
    std::int64_t last_seq = 0;
    std::int64_t last_time_ms = 0;
  };

  std::int64_t NextSeq(DeviceHistory& history, std::int64_t now_ms);

  DownlinkLimits limits_;
  std::unordered_map<std::string, DeviceConnection> by_device_;  // key: pk/dn
  std::unordered_map<std::string, DeviceHistory> history_;       // key: pk/dn
};

}  // namespace iot::broker

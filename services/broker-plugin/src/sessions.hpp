#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "access.hpp"
#include "iot/alink/credentials.hpp"

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

// Sub-device sessions (combine.login over a gateway's connection, reference §2.17).
inline constexpr std::size_t kMaxSubDevicesOnline = 1500;  // per gateway (428 beyond)

// The answer to one sub-device's login or logout: an Alink code (200 on success) and, when the
// sub-device's state changed, its lifecycle message.
struct SubSessionResult {
  int code = 200;
  std::string message = "success";
  std::optional<StatusChange> change;
};

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

  // combine.login of `sub` through the gateway's connection `client`: the sub-device must exist
  // (6100), sign with its own secret (6287), be in the gateway's topology (6401), be enabled (522),
  // not be online through another gateway (520), and the gateway may hold at most
  // kMaxSubDevicesOnline sessions (428). A login again through the same gateway succeeds (a newer
  // connection of the gateway takes the session over) without a new lifecycle message.
  SubSessionResult SubLogin(const void* client, const Identity& gateway, const DeviceDirectory& directory,
                            const alink::SubDeviceSign& sub, std::int64_t now_ms);
  // combine.logout: 520 unless the sub-device is online through this connection.
  SubSessionResult SubLogout(const void* client, std::string_view product_key, std::string_view device_name,
                             std::int64_t now_ms);
  // The gateway's connection closed: every sub-device online through it goes offline.
  std::vector<StatusChange> OnGatewayGone(const void* client, std::int64_t now_ms);
  // A sub-device session ended by the directory, and why: its gateway is told (thing.disable or
  // thing.delete on the sub-device's topic, sent to the gateway's connection).
  struct EndedSub {
    enum class Reason { kDisabled, kDeleted, kOutOfTopology };
    StatusChange change;
    Reason reason = Reason::kOutOfTopology;
    std::string gateway_client_id;  // the gateway's current connection ("" when it has none)
  };
  // Ends sessions the directory no longer allows (sub-device deleted, disabled, or out of the
  // gateway's topology); only `keys` (pk/dn) when given, else every session.
  std::vector<EndedSub> RecheckSubDevices(const DeviceDirectory& directory,
                                          const std::vector<std::string>* keys, std::int64_t now_ms);
  // May the gateway connection `client` act for the sub-device (publish on its topics and receive its
  // downlinks)? True while the sub-device is logged in through it. In memory, per message.
  bool SubDeviceRoutedVia(const void* client, std::string_view product_key,
                          std::string_view device_name) const;
  std::size_t OnlineSubDevices() const { return subs_.size(); }

  std::size_t OnlineDevices() const { return by_device_.size() + subs_.size(); }
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

  struct SubSession {
    std::string product_key;
    std::string device_name;
    std::string gateway_key;
    const void* gateway_client = nullptr;
    std::string client_ip;
  };

  std::int64_t NextSeq(DeviceHistory& history, std::int64_t now_ms);
  StatusChange Transition(const std::string& key, const std::string& product_key,
                          const std::string& device_name, bool online, const std::string& client_ip,
                          std::int64_t now_ms);
  StatusChange EndSub(std::unordered_map<std::string, SubSession>::iterator it, std::int64_t now_ms);

  DownlinkLimits limits_;
  std::unordered_map<std::string, DeviceConnection> by_device_;  // key: pk/dn
  std::unordered_map<std::string, DeviceHistory> history_;       // key: pk/dn
  std::unordered_map<std::string, SubSession> subs_;             // key: the sub-device's pk/dn
  std::unordered_map<const void*, std::unordered_set<std::string>> subs_by_client_;  // gateway connection
};

}  // namespace iot::broker

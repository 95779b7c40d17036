#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

// Gateways and their sub-devices (thing.topo.add / delete / get, and the operators' topology
// routes). A sub-device belongs to at most one gateway. Every change notifies kChannelDevice with the
// sub-device's product_key/device_name (schema trigger), so caches learn a device's gateway like
// any other device change.
namespace iot::store {

inline constexpr std::size_t kMaxSubDevices = 1500;  // per gateway (Alibaba's limit, code 6400)

struct DeviceRef {
  std::string product_key;
  std::string device_name;
};

struct SubDevice {
  std::int64_t device_id = 0;
  std::string product_key;
  std::string device_name;
  std::string iot_id;
  bool enabled = true;
  DeviceStatus status = DeviceStatus::kUnactive;
};

// Why a topology change was refused as a whole; `index` names the request item.
enum class TopologyRefusal {
  kNone,
  kUnknownDevice,  // no such sub-device (6100)
  kSelf,           // a gateway cannot be its own sub-device (6402)
  kOtherGateway,   // bound to another gateway until removed there (6619)
  kTooMany,        // the gateway would hold more than kMaxSubDevices (6400)
  kNotInTopology,  // delete of a device that is not this gateway's sub-device (6401)
};

struct TopologyOutcome {
  TopologyRefusal refusal = TopologyRefusal::kNone;
  std::size_t index = 0;           // the refused item (when refusal != kNone)
  std::vector<SubDevice> devices;  // added or removed, in request order (empty when refused)
};

// Binds the sub-devices to the gateway, all or nothing (one transaction, the gateway's row locked so
// concurrent adds cannot pass the limit together). Items already bound to this gateway are kept and
// reported as added. kNotFound when the gateway does not exist; kInvalid for more than kMaxSubDevices
// items.
Result<TopologyOutcome> AddTopology(Db& db, std::int64_t gateway_id, std::span<const DeviceRef> subs);
// Unbinds the sub-devices from the gateway, all or nothing; kNotInTopology when any is not bound to it.
Result<TopologyOutcome> RemoveTopology(Db& db, std::int64_t gateway_id, std::span<const DeviceRef> subs);
// The gateway's sub-devices by device id (at most kMaxSubDevices).
Result<std::vector<SubDevice>> ListTopology(Db& db, std::int64_t gateway_id);

// thing.list.found: sub-devices a gateway discovered, recorded for operators (found_at refreshed when
// reported again); at most kMaxSubDevices per gateway, the oldest dropped beyond. kInvalid for more
// than kMaxSubDevices items.
struct FoundDevice {
  std::string product_key;
  std::string device_name;
  TimeMs found_at = 0;
};
Result<void> RecordFoundDevices(Db& db, std::int64_t gateway_id, std::span<const DeviceRef> devices,
                                TimeMs now);
// Newest first.
Result<std::vector<FoundDevice>> ListFoundDevices(Db& db, std::int64_t gateway_id);

}  // namespace iot::store

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// Custom-topic messages of a device (table device_messages, migration 013): what it published on its
// /{pk}/{dn}/user/... topics ("up", stored by the gateway) and what operators sent it ("down": custom
// topic messages and custom RRPC requests, with their delivery state). Payloads are bytes.
//
// Statuses: up "received"; down "queued" (QoS 1 to an offline device, waits until expires_at),
// "sent", "expired", "failed"; custom RRPC "answered" (reply holds the device's answer) or "timeout".

inline constexpr std::size_t kMaxMessagePayloadBytes = 256 * 1024;  // Alibaba's MQTT publish limit

struct DeviceMessage {
  std::int64_t id = 0;
  std::int64_t device_id = 0;
  std::string direction;  // up | down
  std::string kind;       // message | rrpc
  std::string topic;      // the full MQTT topic
  std::string payload;    // bytes
  int qos = 0;
  std::string status;
  std::string message;  // why it failed or expired
  std::string requested_by;
  TimeMs ts = 0;  // received (up) or requested (down)
  std::optional<TimeMs> sent_at;
  std::optional<TimeMs> expires_at;
  std::optional<std::string> reply;  // custom RRPC: the device's answer (bytes)
};

struct DeviceMessageCreate {
  std::int64_t device_id = 0;
  std::string direction = "down";
  std::string kind = "message";
  std::string topic;
  std::string payload;
  int qos = 0;
  std::string status;
  std::string requested_by;
  std::optional<TimeMs> ts;  // absent: the database's clock
  std::optional<TimeMs> sent_at;
  std::optional<TimeMs> expires_at;
};

struct DeviceMessageUpdate {
  std::string status;
  std::vector<std::string> from;  // allowed current statuses (empty: any); otherwise kConflict
  std::optional<std::string> message;
  std::optional<TimeMs> sent_at;
  std::optional<std::string> reply;
};

// kNotFound when the device does not exist; kInvalid when the payload is over kMaxMessagePayloadBytes.
Result<DeviceMessage> InsertDeviceMessage(Db& db, const DeviceMessageCreate& create);
// kNotFound: no such message of that device.
Result<DeviceMessage> GetDeviceMessage(Db& db, std::int64_t device_id, std::int64_t id);
// kNotFound: no such message; kConflict: its status is not one of `from`.
Result<DeviceMessage> UpdateDeviceMessage(Db& db, std::int64_t id, const DeviceMessageUpdate& update);
// Keyset pages by (ts, id); `direction` "up", "down" or empty for both.
Result<Page<DeviceMessage>> ListDeviceMessages(Db& db, std::int64_t device_id, std::string_view direction,
                                               const TimeQuery& query);
// The device's queued downlinks, oldest first (at most `limit`).
Result<std::vector<DeviceMessage>> ListQueuedMessages(Db& db, std::int64_t device_id, int limit);
Result<std::int64_t> CountQueuedMessages(Db& db, std::int64_t device_id);
// Enabled devices online since `online_before` or earlier with queued downlinks (at most `limit`).
Result<std::vector<QueuedDevice>> ListDevicesWithQueuedMessages(Db& db, TimeMs online_before, int limit);
// Queued downlinks past their time to live become "expired"; returns how many.
Result<std::int64_t> ExpireDeviceMessages(Db& db, TimeMs now);
// Retention: deletes messages older than their product's retention_days and, per device and direction,
// all but the newest `per_device` rows (batches of kRetentionDeleteBatch). Returns the rows deleted.
Result<std::int64_t> PruneDeviceMessages(Db& db, TimeMs now, int per_device);

}  // namespace iot::store

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/forwarding.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

inline constexpr int kMaxBatchDevices = 1000;
inline constexpr int kMaxImportDevices = 10000;

struct Device {
  std::int64_t id = 0;
  std::string product_key;
  std::string device_name;
  std::string iot_id;  // Alibaba's iotId: assigned at creation, never changes
  std::string nickname;
  std::string secret;  // the API shows it to admins only
  bool enabled = true;
  DeviceStatus status = DeviceStatus::kUnactive;  // the API reports "disabled" when !enabled
  TimeMs created_at = 0;
  std::optional<TimeMs> activated_at;
  std::optional<TimeMs> last_online_at;
  std::optional<TimeMs> last_offline_at;
  std::string ip_address;
  std::map<std::string, std::string> tags;
  // The gateway whose topology holds the device (iot/store/topology.hpp); empty when none.
  std::string gateway_product_key;
  std::string gateway_device_name;
};

struct DeviceCreate {
  std::optional<std::string> device_name;  // generated (16 letters/digits) when absent
  std::string nickname;
  std::optional<std::string> secret;  // an existing DeviceSecret (import); generated when absent
  std::optional<std::string> iot_id;  // an existing iotId (import); generated when absent
};

// Why one row of an import was refused (index into the request).
struct ImportConflict {
  std::size_t index = 0;
  std::string message;
};

// Either every device was created (`devices`) or none (`conflicts` lists each existing name or iotId).
struct ImportOutcome {
  std::vector<Device> devices;
  std::vector<ImportConflict> conflicts;
};

// Status filter of the device list; kDisabled matches enabled = false.
enum class DeviceStatusFilter { kAny, kUnactive, kOnline, kOffline, kDisabled };

struct DeviceFilter {
  DeviceStatusFilter status = DeviceStatusFilter::kAny;
  std::string search;  // substring of device_name or nickname, case-insensitive; % _ \ are literal
  std::optional<std::pair<std::string, std::string>> tag;      // key, value: exact match
  std::optional<std::pair<std::string, std::string>> gateway;  // productKey, deviceName: its sub-devices
  PageQuery page;                                              // ordered by device id
};

struct DevicePatch {
  std::optional<std::string> nickname;
  std::optional<bool> enabled;
};

// What the gateway and the broker plugin need to authenticate and route a device.
struct DeviceAuthInfo {
  std::int64_t device_id = 0;
  std::string product_key;
  std::string device_name;
  std::string secret;
  bool enabled = true;
  NodeType node_type = NodeType::kDevice;
  ValidationMode validation = ValidationMode::kWeak;
  int retention_days = 30;
  int timestamp_window_s = 0;  // the product's (0 = not checked)
  // MQTT dynamic registration (the broker plugin answers it from memory).
  std::string product_secret;
  bool dynamic_registration = false;
  bool registrable = false;  // never activated, or reset since the device was last online
  // The gateway whose topology holds this device (iot/store/topology.hpp); empty when none.
  std::string gateway_product_key;
  std::string gateway_device_name;
  std::string iot_id;
};

// A connect/disconnect seen by the broker plugin. `sequence` orders lifecycle messages of one device
// (monotonic per device, e.g. the broker's event counter or a timestamp in µs); an event whose sequence
// is not above the stored one is ignored, so late or replayed messages cannot flip the status back.
struct LifecycleEvent {
  std::int64_t device_id = 0;
  bool online = false;
  TimeMs time = 0;
  std::int64_t sequence = 0;
  std::string ip_address;  // stored when online and non-empty
  // Outbox rows (forwarding rules' status messages), written with the change when it is applied.
  std::vector<ForwardMessage> forward;
};

struct LifecycleResult {
  bool found = true;              // false: no such device (deleted meanwhile)
  bool applied = false;           // false: stale sequence or unknown device, nothing changed
  bool first_activation = false;  // this event set activated_at
  DeviceStatus status = DeviceStatus::kUnactive;
};

// kNotFound for an unknown product; kConflict when the name exists in the product.
Result<Device> CreateDevice(Db& db, std::string_view product_key, const DeviceCreate& request);
// All or nothing (one transaction); 1..1000 items else kInvalid; kConflict on any duplicate name.
Result<std::vector<Device>> CreateDevices(Db& db, std::string_view product_key,
                                          const std::vector<DeviceCreate>& requests);
// Import of a fleet: 1..kMaxImportDevices items (else kInvalid), all or nothing; a deviceName that exists
// in the product or an iotId that exists anywhere is a conflict of its row (nothing is created).
Result<ImportOutcome> ImportDevices(Db& db, std::string_view product_key,
                                    const std::vector<DeviceCreate>& requests);
Result<Device> GetDevice(Db& db, std::string_view product_key, std::string_view device_name);
Result<Device> GetDeviceById(Db& db, std::int64_t device_id);
// kNotFound for an unknown product.
Result<Page<Device>> ListDevices(Db& db, std::string_view product_key, const DeviceFilter& filter);
Result<Device> PatchDevice(Db& db, std::string_view product_key, std::string_view device_name,
                           const DevicePatch& patch);
// Deletes the device and its data (latest, history, events, rejections, calls, desired, dedupe keys).
Result<void> DeleteDevice(Db& db, std::string_view product_key, std::string_view device_name);

// thing.deviceinfo.update / delete from the device: merge keys / remove keys.
Result<void> UpdateDeviceTags(Db& db, std::int64_t device_id, const std::map<std::string, std::string>& tags);
Result<void> DeleteDeviceTags(Db& db, std::int64_t device_id, const std::vector<std::string>& keys);

// Sets status online/offline if event.sequence is newer; first online sets activated_at.
// kNotFound for an unknown device.
Result<LifecycleResult> ApplyLifecycle(Db& db, const LifecycleEvent& event);
// The same for many events in one transaction, applied in order (one commit and one fsync for a
// connect storm instead of one per device); an unknown device is a result with found = false.
Result<std::vector<LifecycleResult>> ApplyLifecycles(Db& db, std::span<const LifecycleEvent> events);
// Marks every online device offline (broker restart); returns how many changed.
Result<std::int64_t> MarkAllOffline(Db& db, TimeMs time);

// Gateway / broker plugin lookup by (productKey, deviceName). kNotFound when unknown.
Result<DeviceAuthInfo> LookupDevice(Db& db, std::string_view product_key, std::string_view device_name);
// Every device (the broker plugin's in-memory directory: loaded at start and after a lost LISTEN).
Result<std::vector<DeviceAuthInfo>> ListAllDeviceAuth(Db& db);

// 32 random characters [A-Za-z0-9] (device secrets) / 16 for generated names.
std::string GenerateDeviceSecret();
std::string GenerateDeviceName();
// 26 random characters [A-Za-z0-9] (iotId).
std::string GenerateIotId();

}  // namespace iot::store

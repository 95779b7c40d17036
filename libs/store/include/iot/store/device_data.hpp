#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/audit.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// Reads of device data, service calls and desired properties. Devices are addressed by id (resolve
// (productKey, deviceName) with GetDevice/LookupDevice first). Time-ranged lists page by keyset (ts, id):
// from inclusive, to exclusive, limit 1..1000 (else kInvalid), an unparsable cursor gives kInvalid.

struct LatestProperty {
  std::string identifier;
  std::string value_json;
  TimeMs time = 0;         // device time of the newest accepted value
  TimeMs received_at = 0;  // when the platform stored it
};

struct PropertySample {
  std::string value_json;
  TimeMs time = 0;
};

// Aggregation functions; buckets are aligned to UTC epoch (date_bin from 1970-01-01T00:00Z).
struct AggregateQuery {
  TimeMs from = 0;                   // inclusive
  TimeMs to = 0;                     // exclusive
  std::int64_t interval_ms = 60000;  // >= 1000, else kInvalid; at most 100,000 buckets
};

// One bucket; only numeric values (jsonb numbers) count. Buckets with no numeric value are omitted.
struct AggregateBucket {
  TimeMs time = 0;  // bucket start
  double avg = 0;
  double min = 0;
  double max = 0;
  std::int64_t count = 0;
  double first = 0;  // value with the smallest device time in the bucket
  double last = 0;   // value with the largest device time
};

struct EventRecord {
  std::string identifier;
  std::string type;  // info | alert | error (as the gateway stored it)
  std::string output_json;
  TimeMs time = 0;
};

struct EventFilter {
  std::optional<std::string> identifier;
  std::optional<std::string> type;
};

struct Rejection {
  TimeMs time = 0;
  std::string method;
  std::string identifier;
  std::string value;  // as received (JSON text, or raw text when it was not JSON)
  int code = 0;
  std::string message;
};

struct ServiceCall {
  std::string call_id;
  std::int64_t device_id = 0;
  std::string identifier;  // "set" for property set
  CallType call_type = CallType::kAsync;
  std::string params_json = "{}";
  std::optional<std::string> output_json;
  ServiceCallStatus status = ServiceCallStatus::kQueued;
  std::optional<int> code;
  std::string message;
  std::string requested_by;
  TimeMs requested_at = 0;
  std::optional<TimeMs> sent_at;
  std::optional<TimeMs> replied_at;
  std::optional<TimeMs> expires_at;
  std::string alink_id;  // the Alink "id" sent to the device
  std::string rrpc_id;   // messageId in the rrpc topic (sync calls)
};

struct ServiceCallCreate {
  std::int64_t device_id = 0;
  std::string identifier;
  CallType call_type = CallType::kAsync;
  std::string params_json = "{}";
  ServiceCallStatus status = ServiceCallStatus::kQueued;  // kQueued or kSent
  std::string requested_by;
  TimeMs requested_at = 0;  // 0 = now (database clock)
  std::optional<TimeMs> sent_at;
  std::optional<TimeMs> expires_at;
  std::string alink_id;
  std::string rrpc_id;
  // Who asked: appended to the audit log in the same transaction, with "callId" added to its detail.
  std::optional<AuditRecord> audit;
};

// A status change. Applied only when the call's current status is one of `from` (empty = any), so a
// late reply cannot overwrite a timeout: kConflict otherwise.
struct ServiceCallUpdate {
  ServiceCallStatus status = ServiceCallStatus::kSent;
  std::vector<ServiceCallStatus> from;
  std::optional<int> code;
  std::optional<std::string> message;
  std::optional<std::string> output_json;
  std::optional<TimeMs> sent_at;
  std::optional<TimeMs> replied_at;
  std::optional<std::string> alink_id;
  std::optional<std::string> rrpc_id;
};

struct ServiceCallFilter {
  std::optional<std::string> identifier;
  std::optional<ServiceCallStatus> status;
};

struct DesiredProperty {
  std::string identifier;
  std::optional<std::string> value_json;  // absent = cleared (version kept)
  int version = 0;
};

// One change of PUT desired-properties: value absent = clear; expected_version absent = no check.
struct DesiredChange {
  std::string identifier;
  std::optional<std::string> value_json;
  std::optional<int> expected_version;
};

// --- property values ------------------------------------------------------------------------------
Result<std::vector<LatestProperty>> GetLatestProperties(Db& db, std::int64_t device_id);
// The same addressed by name, in one statement outside a transaction block (one round trip: the
// device lookup and its values together). kNotFound for an unknown device.
Result<std::vector<LatestProperty>> GetLatestPropertiesOf(Db& db, std::string_view product_key,
                                                          std::string_view device_name);
Result<Page<PropertySample>> ListPropertyHistory(Db& db, std::int64_t device_id, std::string_view identifier,
                                                 const TimeQuery& query);
Result<std::vector<AggregateBucket>> AggregateProperty(Db& db, std::int64_t device_id,
                                                       std::string_view identifier,
                                                       const AggregateQuery& query);

// --- events and rejections --------------------------------------------------------------------------
Result<Page<EventRecord>> ListEvents(Db& db, std::int64_t device_id, const EventFilter& filter,
                                     const TimeQuery& query);
Result<Page<Rejection>> ListRejections(Db& db, std::int64_t device_id, const TimeQuery& query);

// --- service calls (partitioned by requested_at) ---------------------------------------------------
// call_id is generated (32 hex characters). kNotFound for an unknown device.
Result<ServiceCall> CreateServiceCall(Db& db, const ServiceCallCreate& request);
Result<ServiceCall> GetServiceCall(Db& db, std::int64_t device_id, std::string_view call_id);
// The call a device reply refers to: the newest with this Alink id (status sent) for the device.
Result<ServiceCall> FindServiceCallByAlinkId(Db& db, std::int64_t device_id, std::string_view alink_id);
Result<ServiceCall> UpdateServiceCall(Db& db, std::string_view call_id, const ServiceCallUpdate& update);
// Time range and order apply to requested_at.
Result<Page<ServiceCall>> ListServiceCalls(Db& db, std::int64_t device_id, const ServiceCallFilter& filter,
                                           const TimeQuery& query);
// Queued calls of a device, oldest first (deliver on connect).
Result<std::vector<ServiceCall>> ListQueuedServiceCalls(Db& db, std::int64_t device_id);
// Open calls whose expires_at <= now: queued ones become kExpired (never delivered), sent ones
// kTimeout (no answer in time; a late answer may still complete them). Returns them.
Result<std::vector<ServiceCall>> ExpireServiceCalls(Db& db, TimeMs now);
// The sync call an RRPC response refers to (its messageId is unique per call). kNotFound otherwise.
Result<ServiceCall> FindServiceCallByRrpcId(Db& db, std::string_view rrpc_id);
// Number of queued calls of a device (the per-device queue bound).
Result<std::int64_t> CountQueuedServiceCalls(Db& db, std::int64_t device_id);
// Queued calls of every device of a product, oldest first (re-validated after a publish).
Result<std::vector<ServiceCall>> ListQueuedServiceCallsOfProduct(Db& db, std::string_view product_key);
struct QueuedDevice {
  std::int64_t device_id = 0;
  std::string product_key;
  std::string device_name;
};
// Enabled devices that are online since `online_before` or earlier and have queued calls (at most
// `limit`): the ones whose queue can be delivered now.
Result<std::vector<QueuedDevice>> ListDeliverableDevices(Db& db, TimeMs online_before, int limit);

// --- desired properties ----------------------------------------------------------------------------
Result<std::vector<DesiredProperty>> GetDesiredProperties(Db& db, std::int64_t device_id);
// All or nothing: any expected_version that differs from the stored one (0 when never set) gives
// kVersionMismatch and nothing changes. Each applied change increments the version (set or clear).
// Returns the new version per identifier.
Result<std::map<std::string, int>> SetDesiredProperties(Db& db, std::int64_t device_id,
                                                        const std::vector<DesiredChange>& changes);
// thing.property.desired.delete from the device: clears entries whose version matches (or always when
// expected_version is absent); mismatches are silently ignored.
Result<void> DeleteDesiredFromDevice(Db& db, std::int64_t device_id,
                                     const std::vector<DesiredChange>& changes);

}  // namespace iot::store

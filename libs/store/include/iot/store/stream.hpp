#pragma once

// The live stream's data path inside PostgreSQL: the gateway's TelemetryWriter and the service-call
// trigger (schemas/sql/004_stream.sql) NOTIFY on kChannelStream inside the transaction that stores the
// data, so a notification arrives exactly when the data is committed; iot-api LISTENs on one
// connection and fans out. Payload: records separated by '\n', each
//   "<kind> <device_id> <time_ms> <data JSON>"   kind: p(roperty) e(vent) r(ejection) s(erviceCall) a(larm)
// (alarm records come from the alarms trigger, schemas/sql/019_alarms.sql)
// where <data JSON> is the `data` member of the stream message, ready to embed (never contains '\n').
// A payload stays under kStreamPayloadLimit bytes (PostgreSQL refuses more than 8000); an item that
// alone exceeds it is sent without its value and marked truncated (read it over REST).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

struct PropertyItem;
struct EventItem;
struct RejectionItem;

inline constexpr const char* kChannelStream = "iot_stream";
inline constexpr std::size_t kStreamPayloadLimit = 7900;
// iot-api's stream listener holds this advisory lock (shared, session level) while some client is
// subscribed, so writers skip building notifications when nobody listens. "iot_strm".
// Writers look at most every kStreamPresenceCheck; iot-api confirms a first subscription only after
// the lock has been held kStreamPresenceSettle, so what is committed after the confirmation streams.
inline constexpr std::chrono::milliseconds kStreamPresenceCheck{250};
inline constexpr std::chrono::milliseconds kStreamPresenceSettle{600};
inline constexpr std::int64_t kStreamPresenceLockKey = 0x696f745f7374726d;

enum class StreamKind { kProperty, kEvent, kRejection, kServiceCall, kAlarm };

struct StreamRecord {
  StreamKind kind = StreamKind::kProperty;
  std::int64_t device_id = 0;
  TimeMs time = 0;
  std::string_view data;  // JSON object text, points into the payload
};

// Builds the payloads of one batch, splitting into several when one would exceed the limit.
class StreamPayloadBuilder {
 public:
  explicit StreamPayloadBuilder(std::size_t limit = kStreamPayloadLimit) : limit_(limit) {}
  // The properties of one message: one record per distinct time with data {"id":value,...} (split per
  // item when too large; an item too large alone: {"id":null,"$truncated":true}).
  void AddProperties(std::int64_t device_id, const std::vector<PropertyItem>& items);
  void AddEvent(std::int64_t device_id, const EventItem& event);
  void AddRejection(std::int64_t device_id, const RejectionItem& rejection);
  // The finished payloads, in record order.
  std::vector<std::string> Take();

 private:
  void AddRecord(char kind, std::int64_t device_id, TimeMs time, std::string_view data);

  std::size_t limit_;
  std::vector<std::string> payloads_;
  std::string current_;
};

// Splits a payload into records; malformed records are skipped and counted in `malformed`.
std::vector<StreamRecord> ParseStreamPayload(std::string_view payload, std::size_t* malformed = nullptr);

// A device's keys by id, for the stream's fan-out (iot-api caches them: ids are never reused).
struct DeviceKeys {
  std::string product_key;
  std::string device_name;
};
Result<DeviceKeys> GetDeviceKeys(Db& db, std::int64_t device_id);

}  // namespace iot::store

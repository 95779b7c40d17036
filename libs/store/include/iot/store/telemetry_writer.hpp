#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/forwarding.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

class AlarmProgram;  // iot/store/alarms.hpp

// Batched ingest for the gateway. One Write() = one transaction for the whole batch:
//   1. dedupe keys (device_id, message_id, payload_hash) inserted with ON CONFLICT DO NOTHING RETURNING:
//      a message redelivered with the same device, id and payload within the dedupe window (10 min)
//      is stored once and reported kDuplicate (ids restart with the device, so the id alone is no key);
//   2. COPY (stream_to) of property history (one row per message and device time, its values as one
//      jsonb object), events and rejections of the new messages;
//   3. latest values, one row per device: the batch's newest value per (device, identifier) kept in
//      C++, then one upsert from arrays (unnest) that merges them per identifier into the device's
//      jsonb object unless the stored value has a newer device time.
// When the batch transaction fails for a data reason, the batch is split in halves and retried
// (bisection), so a bad message is isolated and reported kFailed while every other message is stored.
// When the connection is down nothing is written and Write returns kUnavailable (retry the batch).
// Messages with `forward` entries also get their outbox rows in the batch transaction (step 4).
// While iot-api's live stream listens (iot/store/stream.hpp, checked at most every 250 ms), the
// transaction also NOTIFYs the stored items on the stream channel, so they reach it at commit.
// Messages with `alarms` (their product has enabled alarm rules) are evaluated before step 3: the
// devices' stored latest values are read and locked (FOR UPDATE, in device order, so writers of
// several gateways take turns per device), the program evaluates each message in order on them and
// what it says is applied (iot/store/alarms.hpp), in the batch transaction.

inline constexpr std::int64_t kDedupeWindowMs = 10 * 60 * 1000;

struct PropertyItem {
  std::string identifier;
  std::string value_json;  // valid JSON text
  TimeMs time = 0;         // device time
};

struct EventItem {
  std::string identifier;
  std::string type;         // info | alert | error
  std::string output_json;  // valid JSON text
  TimeMs time = 0;
};

struct RejectionItem {
  TimeMs time = 0;
  std::string method;
  std::string identifier;
  std::string value;  // as received
  int code = 0;
  std::string message;
};

struct TelemetryMessage {
  std::int64_t device_id = 0;
  std::string iot_id;              // the device's, for the forwarded messages' bodies
  std::string message_id;          // the Alink id, opaque; empty = do not dedupe
  std::uint64_t payload_hash = 0;  // iot::Fnv1a64(raw payload), iot/common/hash.hpp
  TimeMs received_at = 0;
  std::vector<PropertyItem> properties;
  std::vector<EventItem> events;
  std::vector<RejectionItem> rejections;
  // Outbox rows for the forwarding rules that matched it (iot/store/forwarding.hpp), written in the
  // same transaction when the message is stored (not for a duplicate: it was forwarded when stored).
  std::vector<ForwardMessage> forward;
  // The alarm rules of the device's product (null: none, nothing is read or evaluated).
  std::shared_ptr<const AlarmProgram> alarms;
};

enum class WriteOutcome { kStored, kDuplicate, kFailed };

struct MessageResult {
  WriteOutcome outcome = WriteOutcome::kStored;
  boost::system::error_code error;  // set when kFailed (kInvalid for bad data, ...)
};

struct WriterStats {
  std::uint64_t batches = 0;
  std::uint64_t messages = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t failed = 0;
  std::uint64_t rows = 0;            // history + events + rejections rows written
  std::uint64_t retries = 0;         // sub-batch transactions after a failed batch
  std::uint64_t alarm_failures = 0;  // batches whose alarms could not be written (their data was)
};

// Owns nothing but statistics; use it on the thread that owns `db`.
class TelemetryWriter final {
 public:
  explicit TelemetryWriter(Db& db) : db_(db) {}

  // One result per message, in input order. kUnavailable when the connection is down (nothing stored).
  Result<std::vector<MessageResult>> Write(std::span<const TelemetryMessage> batch);
  const WriterStats& Stats() const { return stats_; }

 private:
  bool StreamListening();

  Db& db_;
  WriterStats stats_;
  bool stream_listening_ = false;
  std::chrono::steady_clock::time_point next_stream_check_{};
};

}  // namespace iot::store

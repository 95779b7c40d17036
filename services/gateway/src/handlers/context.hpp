#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "directory.hpp"
#include "handler.hpp"
#include "iot/alink/topic.hpp"
#include "iot/tsl/validator.hpp"
#include "metrics.hpp"
#include "work.hpp"

// What every message family's handler shares: the message being handled, how it is answered
// (through replies::) and how refusals are stored.
namespace iot::gateway::handler_detail {

using nlohmann::json;

// Everything known about the message being handled.
class Context {
 public:
  Context(const InboundMessage& in, const alink::Topic& topic, TimeMs now_ms, Metrics& metrics, Work& out)
      : in_(in), topic_(topic), now_(now_ms), metrics_(metrics), out_(out) {}

  const alink::Topic& topic() const { return topic_; }
  TimeMs now() const { return now_; }
  Metrics& metrics() { return metrics_; }
  std::string method;
  std::string id;
  bool ack = true;
  std::int64_t device_id = 0;  // 0 = unknown device: nothing can be stored
  std::string iot_id;          // the device's (its telemetry's forwarded messages carry it)
  // Raw products: the reply goes to up_raw_reply, the dedupe hash is the device's bytes', and a
  // request-level rejection stores the bytes as hex.
  std::optional<std::string> reply_to;
  std::optional<std::uint64_t> payload_hash;
  std::optional<std::string> rejected_payload;

  // Plans the reply (unless the device asked for none, or the topic has none).
  void Answer(int code, json data = json::object(), std::string message = {});

  // The message's telemetry (dedupe key, items, rejections), created on first use.
  store::TelemetryMessage& Telemetry();

  void Reject(std::string identifier, std::string value, int code, std::string message);

  // A request-level failure: stored as one rejection (when the device is known) and answered.
  void Fail(int code, std::string message, json data = json::object());

  // Item-level refusals: stored as rejections, named in the reply data.
  void Refuse(const tsl::Refusal& refusal, const json* container, json& data);

  // Accepted items into `target` (a pack post's sub-device part), else the message's telemetry.
  void AddProperties(const tsl::Report& report, store::TelemetryMessage* target = nullptr);
  void AddEvents(const tsl::Report& report, const tsl::ThingModel* model,
                 store::TelemetryMessage* target = nullptr);
  // A pack post's telemetry part for a sub-device: the message's id, hash and arrival, its own device.
  store::TelemetryMessage& Part(std::int64_t sub_device_id, std::string iot_id,
                                const std::string& product_key, const std::string& device_name);

 private:
  const InboundMessage& in_;
  const alink::Topic& topic_;
  TimeMs now_;
  Metrics& metrics_;
  Work& out_;
};

// A device request whose device or product lookup failed: retried while the directory is unavailable,
// else refused with `code` (nothing can be stored without them).
HandleStatus LookupFailed(Context& c, const boost::system::error_code& error, int code, const char* what);

tsl::Validator MakeValidator(const ProductEntry& product);

// Device text as stored in a rejection: storable, at most 4096 bytes.
std::string Truncate(std::string_view text);
// A raw payload as stored in a rejection: hex (the bytes need not be text), at most 4096 characters.
std::string HexPreview(std::string_view bytes);

}  // namespace iot::gateway::handler_detail

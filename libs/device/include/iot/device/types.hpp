#pragma once

// Values the device SDK hands to applications: replies to the device's requests and the downlink
// requests the platform sends. nlohmann/json is part of the API (params and data are JSON), so this
// header includes it in full.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"

namespace iot::device {

// How a request ended.
enum class Outcome {
  kReplied,     // the platform answered; see Reply::code
  kTimedOut,    // no reply after every attempt (or the request deadline passed)
  kWindowFull,  // not sent: the in-flight window was full (async calls only; sync calls wait)
  kStopped,     // the device was stopped before a reply came
  kInvalid,     // not sent: bad arguments (e.g. params not an object)
};
std::string_view OutcomeName(Outcome outcome);

// One item the platform refused while accepting the rest of a post (the gateway answers code 200
// with `data` mapping the identifier to {"code","message"}; Alibaba sends a plain string, which
// gives code 0). A refused event is answered with its own non-200 code and one refusal.
struct Refusal {
  std::string identifier;
  int code = 0;
  std::string message;
};

struct Reply {
  Outcome outcome = Outcome::kTimedOut;
  std::string id;  // the Alink id of the request (the same on every resend)
  int code = 0;    // Alink code when kReplied
  std::string message;
  nlohmann::json data = nlohmann::json::object();
  std::vector<Refusal> refusals;         // property and event posts only
  int attempts = 0;                      // publishes made (1 = no resend)
  std::chrono::microseconds latency{0};  // first publish -> reply

  bool ok() const { return outcome == Outcome::kReplied && code == 200; }
};

using ReplyCallback = std::function<void(const Reply&)>;

// Result of an NTP exchange (reference §2.15).
struct TimeSync {
  Outcome outcome = Outcome::kTimedOut;
  std::int64_t server_time_ms = 0;  // platform time at the moment the response arrived
  std::int64_t offset_ms = 0;       // server_time_ms - local system clock at that moment
  std::chrono::microseconds round_trip{0};
  bool ok() const { return outcome == Outcome::kReplied; }
};

// The device shadow's answer on /shadow/get/{pk}/{dn}, or a desired change the platform pushed
// ("method":"control").
struct ShadowReply {
  Outcome outcome = Outcome::kTimedOut;
  std::string method;   // "reply" or "control"
  int code = 0;         // 200 for "status":"success", else payload.content.errorcode (400..409, 429, 500)
  std::string message;  // payload.content.errormessage
  nlohmann::json state = nlohmann::json::object();     // get and control: {"reported":..,"desired":..}
  nlohmann::json metadata = nlohmann::json::object();  // {"reported":{"k":{"timestamp":s}},..}
  std::int64_t version = 0;
  std::int64_t timestamp = 0;  // seconds

  bool ok() const { return outcome == Outcome::kReplied && code == 200; }
};

using ShadowHandler = std::function<void(const ShadowReply&)>;

// kSubDeviceState: thing.disable / thing.enable / thing.delete of a sub-device, sent to its gateway
// (identifier "disable", "enable" or "delete").
enum class DownlinkKind { kPropertySet, kService, kConfigPush, kSubDeviceState };

// A request from the platform: property set (thing/service/property/set), an async service
// (thing/service/{id}) or a sync service over RRPC (rrpc/request/{messageId}).
struct DownlinkRequest {
  DownlinkKind kind = DownlinkKind::kService;
  std::string identifier;  // service identifier; "set" for a property set
  std::string id;          // Alink id, echoed in the reply
  std::string method;      // as received, e.g. "thing.service.Reboot"
  nlohmann::json params = nlohmann::json::object();
  bool sync = false;            // arrived over RRPC
  std::string rrpc_message_id;  // the messageId of the RRPC topic (sync only)
  std::string topic;            // the topic it arrived on
  // The device it is for: the device itself, or (on a gateway) one of its sub-devices.
  std::string product_key;
  std::string device_name;
};

// A sub-device of a gateway (reference §2.17). The secret is what the gateway signs thing.topo.add
// and combine.login with, for the sub-device; it never leaves the gateway.
struct SubDeviceIdentity {
  std::string product_key;
  std::string device_name;
  std::string device_secret;  // needed by AddTopology and login only
  alink::SignMethod sign_method = alink::SignMethod::kHmacSha256;
};

}  // namespace iot::device

#pragma once

// The units that flow through the gateway pipeline:
//   Paho callback --InboundMessage--> shard worker --Work--> batch writer --Reply--> MQTT publish.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/alink/shadow.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "iot/store/topology.hpp"
#include "iot/store/types.hpp"

namespace iot::gateway {

using TimeMs = std::int64_t;

// What the Paho callback hands over: copied out of the Paho message, nothing parsed yet.
struct InboundMessage {
  std::string topic;
  std::string payload;
  TimeMs received_ms = 0;
  // Published by a platform service (iot-api marks its publishes with an MQTT 5 user property): its
  // downlinks on custom topics come back through /+/+/user/#, and are not the device's messages.
  bool from_platform = false;
  // Delivered by the custom-topic filter /+/+/user/# alone (MQTT 5 subscription identifier). A thing
  // topic of a device named "user" (/sys/{pk}/user/...) matches that filter too: that copy is a duplicate.
  bool custom_topic_filter_only = false;
};

// Turns an Alink reply (JSON text) into a raw device's bytes (its product's protocolToRawData).
// Thread-safe; used by the writer only when a reply changed after the handler encoded it.
class ReplyEncoder {
 public:
  virtual ~ReplyEncoder() = default;
  virtual std::optional<std::string> Encode(const std::string& alink_reply) const = 0;
};

// An Alink reply to publish after the message's transaction committed; built and changed only by
// replies:: (reply.hpp).
struct Reply {
  std::string topic;
  std::string id;
  std::string method;
  int code = 200;
  nlohmann::json data = nlohmann::json::object();
  std::string message;  // empty: the default message of `code`
  std::string raw;      // when set, published as is instead of an Alink reply (NTP, raw products)
  // Raw products: re-encodes the reply when the writer changed it (storage failed, desired values).
  std::shared_ptr<const ReplyEncoder> encoder;
};

// Database side effects other than telemetry, executed by the writer thread in arrival order.
struct TagsUpdateOp {
  std::int64_t device_id = 0;
  std::map<std::string, std::string> tags;
};
struct TagsDeleteOp {
  std::int64_t device_id = 0;
  std::vector<std::string> keys;
};
struct DesiredGetOp {  // reads the device's desired values (replies::AddDesiredValues answers them)
  std::int64_t device_id = 0;
  std::vector<std::string> identifiers;
};
struct DesiredDeleteOp {
  std::int64_t device_id = 0;
  std::vector<store::DesiredChange> changes;
};
struct LifecycleOp {
  store::LifecycleEvent event;
};
struct ServiceReplyOp {  // completes the service-call record a device reply refers to
  std::int64_t device_id = 0;
  std::string alink_id;
  bool succeeded = true;
  int code = 200;
  std::string message;
  std::string output_json;
  TimeMs replied_at = 0;
  std::vector<store::ForwardMessage> forward;  // forwarded replies, written when the call is completed
};
struct ShadowOp {  // a device shadow request: get, or update/delete applied to the stored document
  std::int64_t device_id = 0;
  alink::shadow::Request request;
  std::int64_t now_s = 0;  // the request's time, for metadata and answers (seconds)
};
struct UserMessageOp {  // a message a device published on one of its custom topics: stored
  std::int64_t device_id = 0;
  std::string topic;
  std::string payload;
  int qos = 0;
  TimeMs received_ms = 0;
  std::vector<store::ForwardMessage> forward;  // forwarded custom-topic messages, written with it
};
struct OtaInformOp {  // the version a device informs for a module (completes a task at its target)
  std::int64_t device_id = 0;
  std::string module;
  std::string version;
  TimeMs at = 0;
};
struct OtaProgressOp {  // a device's upgrade step for a module (updates its pushed or downloading task)
  std::int64_t device_id = 0;
  std::string module;
  int step = 0;
  std::string desc;
  TimeMs at = 0;
};
struct OtaFirmwareGetOp {  // thing.ota.firmware.get: reads the package the device should be upgrading to
  std::int64_t device_id = 0;
  std::string module;
  std::string url_key;   // signs the download link (Directory::UrlSigningKey)
  std::string base_url;  // IOT_PUBLIC_BASE_URL ("" = relative links)
  std::int64_t now_s = 0;
};
// A gateway's topology request (thing.topo.add / delete / get, thing.sub.register, thing.list.found):
// checked and applied
// by the writer, which holds the sub-devices' secrets and the topology (all or nothing).
struct TopologyOp {
  enum class Action { kAdd, kDelete, kGet, kRegister, kFound };
  Action action = Action::kGet;
  std::int64_t gateway_id = 0;
  std::string gateway_product_key;
  std::string gateway_device_name;
  std::vector<alink::SubDeviceSign> signs;  // kAdd: each signed with the sub-device's secret
  std::vector<store::DeviceRef> devices;    // kDelete, kRegister, kFound
  TimeMs now_ms = 0;                        // kFound: when they were reported
};
using Op = std::variant<std::monostate, TagsUpdateOp, TagsDeleteOp, DesiredGetOp, DesiredDeleteOp,
                        LifecycleOp, ServiceReplyOp, ShadowOp, UserMessageOp, OtaInformOp, OtaProgressOp,
                        OtaFirmwareGetOp, TopologyOp>;

// One handled message: what to store, what else to do, and what to answer (in that order).
struct Work {
  std::optional<store::TelemetryMessage> telemetry;
  // A gateway's pack post: its sub-devices' telemetry, written in the same transaction as `telemetry`,
  // and who each part is (productKey, deviceName: forwarding names them).
  std::vector<store::TelemetryMessage> parts;
  std::vector<std::pair<std::string, std::string>> part_devices;
  Op op;
  std::optional<Reply> reply;
  std::string kind;  // topic kind name, for logs
};

// Outcome of executing an Op.
enum class OpStatus { kDone, kUnavailable, kFailed };

// What executing an Op read: data, not protocol (replies:: shapes the answer).
struct OpResult {
  std::vector<store::DesiredProperty> desired;  // DesiredGetOp: every desired property of the device
  // ShadowOp: the document as stored afterwards, and why the change was refused (nothing stored).
  alink::shadow::Document shadow;
  std::optional<alink::shadow::Error> shadow_refused;
  // OtaFirmwareGetOp: the package pending for the device's module, if any.
  std::optional<store::PendingUpgrade> ota_pending;
  // TopologyOp: why it was refused (nothing changed) and which item; else the devices added, removed,
  // listed or registered (with their secrets for kRegister, in the same order).
  enum class TopologyRefusal {
    kNone,
    kNotGateway,
    kUnknownDevice,
    kBadSign,
    kSelf,
    kOtherGateway,
    kTooMany,
    kNotInTopology,
    kRegistrationOff,
  };
  TopologyRefusal topology_refusal = TopologyRefusal::kNone;
  std::size_t topology_index = 0;
  std::vector<store::SubDevice> topology;
  std::vector<std::string> registered_secrets;
};

}  // namespace iot::gateway

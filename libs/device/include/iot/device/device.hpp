#pragma once

// A device on the platform, speaking Alink JSON over MQTT (Paho MQTT C++).
//
//   iot::device::DeviceOptions o;
//   o.broker_uri = "tcp://127.0.0.1:1883";  // "ssl://host:8883" + o.ca_file for TLS
//   o.product_key = "a1Lamp"; o.device_name = "lamp-1"; o.device_secret = "...";
//   iot::device::Device lamp(o);
//   lamp.OnPropertySet([](const DownlinkRequest& r, Responder reply) { ...; reply.Ok(); });
//   lamp.Connect(std::chrono::seconds(10));
//   Reply r = lamp.PostProperties({{"LightSwitch", 1}});   // r.code, r.refusals
//
// Threads (see runtime.hpp): handlers, connection callbacks and async completions run on the
// Runtime's workers, never on Paho's callback thread, so a handler may call the blocking
// PostProperties() safely. A blocking call does hold its worker until the reply comes (at most the
// request deadline); with one worker (the default), other handlers of devices sharing that Runtime
// wait meanwhile. Use the *Async calls, or more workers, where that matters.
//
// Reliability: every request (post, desired, template, NTP) is resent with the same id and the same
// bytes when no reply came within `reply_timeout`, up to `max_attempts` publishes or until
// `request_deadline`; the gateway stores a redelivered post once and answers it again. At most
// `window` requests wait for replies at once: async calls then return kWindowFull, blocking calls
// wait for a free slot. The connection is kept up: after a loss the device reconnects with
// exponential backoff and jitter, resubscribes, and resends what was unanswered.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/alink/credentials.hpp"
#include "iot/alink/ota.hpp"
#include "iot/device/protocol.hpp"
#include "iot/device/runtime.hpp"
#include "iot/device/types.hpp"

namespace iot::device {

struct DeviceOptions {
  std::string broker_uri = "tcp://127.0.0.1:1883";  // tcp:// (securemode=3) or ssl:// (securemode=2)
  std::string ca_file;                              // ssl://: the CA that signed the broker's certificate
  std::string product_key;
  std::string device_name;
  std::string device_secret;
  alink::SignMethod sign_method = alink::SignMethod::kHmacSha256;
  std::chrono::seconds keepalive{60};  // Alibaba allows 30-1200 s
  std::chrono::seconds connect_timeout{10};
  int qos = 1;  // of the device's publishes (requests and replies)

  std::size_t window = 32;
  std::chrono::milliseconds reply_timeout{3000};
  int max_attempts = 3;
  std::chrono::milliseconds request_deadline{30000};

  // Custom topics (reference §2.2): filters subscribed on every connect besides the Alink ones (QoS
  // 1), e.g. "/{pk}/{dn}/user/get", "/broadcast/{pk}/#", "/ext/rrpc/+/{pk}/{dn}/user/get".
  std::vector<std::string> subscriptions;
  // Also receive sync services as the C SDK's RRPC_NEW mode does: /ext/rrpc/+/sys/{pk}/{dn}/thing/
  // service/+, answered on the request's own topic (OnService handlers, DownlinkRequest::sync).
  bool ext_rrpc_services = false;
  // A gateway (reference §2.17): subscribes for its sub-devices too (DeviceTopics::
  // GatewaySubscriptions), so the SubDevice handles (Sub) receive their downlinks. Only for a device of
  // a product with nodeType "gateway": the broker refuses those subscriptions to any other.
  bool gateway = false;

  std::chrono::milliseconds reconnect_min{250};
  std::chrono::milliseconds reconnect_max{30000};

  // Shared threads; null = a private Runtime with one worker.
  std::shared_ptr<Runtime> runtime;
};

// Answers one downlink request. Copyable; the first Reply() wins, later ones are ignored. If every
// copy is dropped without replying (or the handler throws), the device answers 400 ("request
// error"), so the platform never waits for nothing.
class Responder {
 public:
  void Reply(int code, nlohmann::json data = nlohmann::json::object(), std::string message = {});
  void Ok(nlohmann::json data = nlohmann::json::object()) { Reply(200, std::move(data)); }
  bool Answered() const;

  struct State;
  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}

 private:
  std::shared_ptr<State> state_;
};

using DownlinkHandler = std::function<void(const DownlinkRequest&, Responder)>;
// A message on a custom topic (/{pk}/{dn}/user/...) or a broadcast topic (/broadcast/{pk}/...).
using MessageHandler = std::function<void(const std::string& topic, const std::string& payload)>;
// A custom RRPC request (/ext/rrpc/{messageId}/<topic>): `topic` is the inner topic (e.g.
// "{pk}/{dn}/user/get"); `answer` publishes the answer on the request's topic (QoS 0), once.
using CustomRrpcHandler = std::function<void(const std::string& topic, const std::string& payload,
                                             std::function<void(const std::string& answer)> answer)>;
using ConnectionCallback = std::function<void(bool ready, const std::string& cause)>;
// An OTA upgrade push (/ota/device/upgrade/{pk}/{dn}), decoded; run on a Runtime worker. Download and
// check it with iot::device::RunOtaUpgrade (ota.hpp) or by hand.
using OtaPushHandler = std::function<void(const alink::OtaPackage& package)>;

class SubDevice;

struct DeviceStats {
  std::uint64_t connects = 0;  // successful CONNECTs (first one included)
  std::uint64_t connection_losses = 0;
  std::uint64_t publishes = 0;  // request publishes, resends included
  std::uint64_t resends = 0;
  std::uint64_t replies = 0;    // requests answered
  std::uint64_t timeouts = 0;   // requests that ended without a reply
  std::uint64_t downlinks = 0;  // property sets and service calls received
  std::uint64_t busy = 0;       // downlinks answered 429 because the worker queue was full
};

class Device {
 public:
  // Throws std::invalid_argument for a broker URI Paho cannot use (e.g. not tcp:// or ssl://).
  explicit Device(DeviceOptions options);
  ~Device();  // Stop()
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Handlers: register before Start() (later registrations apply to later messages).
  void OnPropertySet(DownlinkHandler handler);
  // `identifier` empty: every service without a handler of its own. Sync (RRPC) and async calls
  // reach the same handler; DownlinkRequest::sync tells them apart. Calls without any handler
  // are answered 460.
  void OnService(std::string identifier, DownlinkHandler handler);
  void OnConnectionChange(ConnectionCallback callback);
  // thing.config.push (remote configuration): params are the pushed file's configId, configSize,
  // sign, url (alink::DecodeConfigData reads them); answer Ok() once taken. Without a handler the
  // push is answered 460.
  void OnConfigPush(DownlinkHandler handler);
  // Messages on the topics of DeviceOptions::subscriptions (custom and broadcast topics).
  void OnMessage(MessageHandler handler);
  // Custom RRPC requests (subscribe to their /ext/rrpc/+/... form in DeviceOptions::subscriptions).
  void OnCustomRrpc(CustomRrpcHandler handler);
  // OTA upgrade pushes; registering before Start() subscribes to /ota/device/upgrade/{pk}/{dn}.
  void OnOtaPush(OtaPushHandler handler);

  // Starts connecting in the background and keeps the connection up until Stop().
  void Start();
  // True once connected and subscribed (false on timeout).
  bool WaitReady(std::chrono::milliseconds timeout);
  bool Connect(std::chrono::milliseconds timeout) {
    Start();
    return WaitReady(timeout);
  }
  // Disconnects; pending requests end with kStopped. Idempotent.
  void Stop();
  bool IsReady() const;
  std::string LastError() const;  // why the last connect failed or the connection dropped
  DeviceStats Stats() const;
  const DeviceOptions& options() const;

  // thing.event.property.post; params {"id": value | {"value":v,"time":ms}, ...}.
  Reply PostProperties(const nlohmann::json& params);
  Outcome PostPropertiesAsync(const nlohmann::json& params, ReplyCallback done);
  // thing.event.{id}.post with params {"value": outputs, "time": ms} (time = now when absent).
  Reply PostEvent(std::string_view event_id, const nlohmann::json& outputs,
                  std::optional<std::int64_t> time_ms = std::nullopt);
  Outcome PostEventAsync(std::string_view event_id, const nlohmann::json& outputs,
                         std::optional<std::int64_t> time_ms, ReplyCallback done);
  // thing.property.desired.get; data {"id":{"value":..,"version":n}} for those with a value.
  Reply GetDesired(const std::vector<std::string>& identifiers);
  // thing.property.desired.delete; params {"id":{"version":n}} or {"id":{}}.
  Reply DeleteDesired(const nlohmann::json& params);
  // thing.dsltemplate.get; data is the published TSL document.
  Reply GetThingModel();
  // thing.config.get (product scope, file); data {"configId","configSize","sign","signMethod","url",
  // "getType"} (alink::DecodeConfigData), code 6713 when the product's remote configuration is off,
  // 6710 without a file. Download the url with any HTTP client and check it with ConfigFileMatches.
  Reply GetConfig();
  // thing.ota.firmware.get (reference §2.16): the package pending for `module` ("" = the default
  // module), e.g. after a reboot mid-upgrade; data is the push's data (alink::DecodeOtaPackage), or {}
  // when nothing is pending.
  Reply GetFirmware(std::string_view module = {});
  // NTP over /ext/ntp (QoS 0 as the reference requires).
  TimeSync SyncTime();
  // A plain publish (custom topics): false when not connected or the client refused it. The broker
  // may still refuse it (topics outside the device's own space are dropped by its ACL).
  bool Publish(const std::string& topic, const std::string& payload, int qos = 0);

  // OTA (reference §2.16), fire and forget (the platform does not answer them): the version the
  // device runs for `module` ("" = the default module) on /ota/device/inform, and the progress of an
  // upgrade on /ota/device/progress (step 1..100, or -1 upgrade failed, -2 download failed, -3
  // verify failed, -4 flash failed, with `desc`). False when not connected.
  bool InformVersion(std::string_view version, std::string_view module = {});
  bool ReportOtaProgress(int step, std::string_view desc, std::string_view module = {});

  // Device shadow: each call publishes on /shadow/update/{pk}/{dn} and waits (up to
  // `request_deadline`) for the answer on /shadow/get/{pk}/{dn}. The answers carry no id, so a
  // device makes one shadow request at a time (concurrent calls wait their turn); nothing is resent.
  // `version` must be greater than the shadow's (-1 resets it to 0).
  ShadowReply ShadowReport(const nlohmann::json& reported, std::int64_t version);
  ShadowReply ShadowGet();
  // `reported`: {"attr":"null",..} removes those attributes, the string "null" all of them.
  ShadowReply ShadowDelete(const nlohmann::json& reported, std::int64_t version);
  // Any message, as is (e.g. {"method":"update","state":{"desired":"null"},"version":n} once the
  // device applied what was desired).
  ShadowReply ShadowSend(const std::string& message);
  // Desired changes the platform pushes ("method":"control"), run on a Runtime worker.
  void OnShadowControl(ShadowHandler handler);

  // --- Gateways (DeviceOptions::gateway; reference §2.17, §2.10) ---------------------------------
  // thing.topo.add, each sub-device signed with its own secret; data lists the sub-devices added.
  Reply AddTopology(const std::vector<SubDeviceIdentity>& subs);
  // thing.topo.delete (secrets not needed).
  Reply DeleteTopology(const std::vector<SubDeviceIdentity>& subs);
  // thing.topo.get; data [{"productKey","deviceName"}...].
  Reply GetTopology();
  // combine.login / combine.logout (answered by the broker itself). Login data {productKey,
  // deviceName}; 6401 when not in the topology, 520 when online through another gateway.
  Reply LoginSubDevice(const SubDeviceIdentity& sub);
  Reply LogoutSubDevice(const SubDeviceIdentity& sub);
  // combine.batch.login / logout, alink::kMaxSessionBatch sub-devices per request (more are split):
  // one reply per request, data [{"productKey","deviceName","code","message"}...], code the first
  // failure's.
  std::vector<Reply> LoginSubDevices(const std::vector<SubDeviceIdentity>& subs);
  std::vector<Reply> LogoutSubDevices(const std::vector<SubDeviceIdentity>& subs);
  // thing.event.property.pack.post: {"properties":..,"events":..,"subDevices":[{"identity":{..},
  // "properties":..,"events":..}]}. All or nothing: on failure `data` names each failure per device.
  Reply PostPack(const nlohmann::json& params);
  // A logged-in sub-device's view over this connection: its posts on its own topics, its downlinks
  // to its own handlers. Handles share the gateway's connection, window and Runtime.
  SubDevice Sub(const std::string& product_key, const std::string& device_name);
  // thing.disable / thing.enable / thing.delete of a sub-device (kind kSubDeviceState, identifier
  // "disable", "enable" or "delete"; product_key / device_name name it). Not answered: the
  // sub-device has no session then, so the broker would refuse the reply on its topic (and close
  // the gateway's connection). After "enable" the gateway may log the sub-device in again.
  void OnSubDeviceState(std::function<void(const DownlinkRequest&)> handler);

  struct Core;

 private:
  std::shared_ptr<Core> core_;
};

// A sub-device speaking through its gateway's connection (Device::Sub). Copyable; valid as long as
// its gateway Device (calls after the gateway went away end with kStopped).
class SubDevice {
 public:
  const std::string& product_key() const { return topics_->product_key(); }
  const std::string& device_name() const { return topics_->device_name(); }

  // As Device's, on /sys/{subPk}/{subDn}/...
  Reply PostProperties(const nlohmann::json& params);
  Outcome PostPropertiesAsync(const nlohmann::json& params, ReplyCallback done);
  Reply PostEvent(std::string_view event_id, const nlohmann::json& outputs,
                  std::optional<std::int64_t> time_ms = std::nullopt);
  Outcome PostEventAsync(std::string_view event_id, const nlohmann::json& outputs,
                         std::optional<std::int64_t> time_ms, ReplyCallback done);
  // Property sets and services (async and sync) addressed to this sub-device; without a handler a
  // call is answered 460, as for a direct device.
  void OnPropertySet(DownlinkHandler handler);
  void OnService(std::string identifier, DownlinkHandler handler);

  SubDevice(std::weak_ptr<Device::Core> core, const std::string& product_key, const std::string& device_name);

 private:
  std::weak_ptr<Device::Core> core_;
  std::shared_ptr<const DeviceTopics> topics_;
};

}  // namespace iot::device

#pragma once

// Pure helpers of the SDK (no I/O): topics a device uses, reply and NTP parsing. Public so that the
// simulator and tests use the same code the SDK does.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/alink/config.hpp"
#include "iot/alink/topic.hpp"
#include "iot/device/types.hpp"

namespace iot::device {

// Topics of one device (reference §2.2).
struct DeviceTopics {
  DeviceTopics(std::string product_key, std::string device_name);

  std::string PropertyPost() const;                  // /sys/{pk}/{dn}/thing/event/property/post
  std::string EventPost(std::string_view id) const;  // /sys/{pk}/{dn}/thing/event/{id}/post
  std::string DesiredGet() const;
  std::string DesiredDelete() const;
  std::string DslTemplateGet() const;
  std::string ConfigGet() const;       // /sys/{pk}/{dn}/thing/config/get
  std::string OtaFirmwareGet() const;  // /sys/{pk}/{dn}/thing/ota/firmware/get
  std::string NtpRequest() const;      // /ext/ntp/{pk}/{dn}/request
  std::string ShadowUpdate() const;    // /shadow/update/{pk}/{dn}
  std::string ShadowGet() const;       // /shadow/get/{pk}/{dn}
  // A gateway's requests (reference §2.17, §2.10) on its own topics.
  std::string TopoAdd() const;     // /sys/{pk}/{dn}/thing/topo/add
  std::string TopoDelete() const;  // .../thing/topo/delete
  std::string TopoGet() const;     // .../thing/topo/get
  std::string PackPost() const;    // .../thing/event/property/pack/post
  // /ext/session/{pk}/{dn}/combine/{login|logout|batch_login|batch_logout} for the session kinds.
  std::string Session(alink::TopicKind kind) const;
  // Filters subscribed on every connect: post replies, property set, services (async), RRPC
  // requests, desired/template replies, the shadow, NTP response (last: QoS 0). thing/service/+ also matches
  // the device's own {id}_reply publishes; the SDK ignores those.
  std::vector<std::string> Subscriptions() const;
  // A gateway's: the /sys/ filters of Subscriptions() with `+/+` in place of its own levels (so its
  // sub-devices' downlinks and replies arrive too; the broker delivers only those of sub-devices
  // logged in through this connection), plus the sub-devices' thing/disable, enable, delete and the
  // replies to the gateway's own topology and pack requests. NTP's filter stays last.
  std::vector<std::string> GatewaySubscriptions() const;

  const std::string& product_key() const { return pk_; }
  const std::string& device_name() const { return dn_; }

 private:
  std::string pk_;
  std::string dn_;
};

// Refusals named in a post reply's `data`: {"id":{"code":6306,"message":".."}} (this platform) or
// {"id":"tsl parse: params not exist"} (Alibaba; code 0). Other shapes are skipped.
std::vector<Refusal> ParseRefusals(const nlohmann::json& data);

// Fills `out` (code, message, data, refusals when `post`) from a reply payload; false when it is
// not an Alink reply. `out.id` receives the reply's id.
bool ParseReplyPayload(std::string_view payload, bool post, Reply& out);

// A message on /shadow/get: {"method":"reply"|"control","payload":{"status":..,"state":..,
// "metadata":..,"version":..,"content":{"errorcode":"409","errormessage":..}},"version":..,
// "timestamp":..}. False when it is not one. errorcode may be a string or a number.
bool ParseShadowMessage(std::string_view payload, ShadowReply& out);
// {"method":"update","state":{"reported":..},"version":n} and the like.
std::string BuildShadowRequest(std::string_view method, const nlohmann::json& state,
                               std::optional<std::int64_t> version);
// Remote configuration (reference §2.13): true when `file` (downloaded from `config.url`) has
// `config.size` bytes and the SHA-256 `config.sign` (hex, any case).
bool ConfigFileMatches(const alink::ConfigFile& config, std::string_view file);

// One sub-device's signed credentials (reference §2.17): productKey, deviceName, clientId
// "{pk}.{dn}", timestamp (ms, as text), the sign method and the HMAC of
// "clientId{id}deviceName{dn}productKey{pk}timestamp{ts}" keyed with its DeviceSecret. thing.topo.add
// spells the method "signmethod" (as the C SDK does); combine.login (`login`) "signMethod" and adds
// "cleanSession":"true".
nlohmann::json SubDeviceSignParams(const SubDeviceIdentity& sub, std::int64_t timestamp_ms, bool login);

// NTP (reference §2.15).
std::string BuildNtpRequest(std::int64_t device_send_ms);
struct NtpResponse {
  std::int64_t device_send_ms = 0;
  std::int64_t server_recv_ms = 0;
  std::int64_t server_send_ms = 0;
};
// Accepts numbers or strings of digits for the three fields; nullopt otherwise.
std::optional<NtpResponse> ParseNtpResponse(std::string_view payload);
// (serverRecvTime + serverSendTime + deviceRecvTime - deviceSendTime) / 2.
TimeSync ComputeTimeSync(const NtpResponse& response, std::int64_t device_recv_ms);

}  // namespace iot::device

#pragma once

// Pure helpers of the SDK (no I/O): topics a device uses, reply and NTP parsing. Public so that the
// simulator and tests use the same code the SDK does.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/alink/config.hpp"
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
  std::string ConfigGet() const;     // /sys/{pk}/{dn}/thing/config/get
  std::string NtpRequest() const;    // /ext/ntp/{pk}/{dn}/request
  std::string ShadowUpdate() const;  // /shadow/update/{pk}/{dn}
  std::string ShadowGet() const;     // /shadow/get/{pk}/{dn}
  // Filters subscribed on every connect: post replies, property set, services (async), RRPC
  // requests, desired/template replies, the shadow, NTP response (last: QoS 0). thing/service/+ also matches
  // the device's own {id}_reply publishes; the SDK ignores those.
  std::vector<std::string> Subscriptions() const;

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

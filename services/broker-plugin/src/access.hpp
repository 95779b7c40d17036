#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace iot::broker {

// Who a connected client is. Devices are bound to their own topic space; service accounts (the
// platform's gateway and API) to the topics their service needs.
enum class Role { kDevice, kGateway, kApi, kAnonymous };

struct Identity {
  Role role = Role::kAnonymous;
  std::string product_key;  // devices
  std::string device_name;  // devices
  std::string account;      // service accounts
};

struct DeviceRecord {
  std::string secret;
  bool enabled = true;
  int timestamp_window_s = 0;  // the product's: |timestamp - now| allowed (0 = not checked)
  // MQTT dynamic registration (registration.hpp): the product's secret and switch, and whether the
  // device may still register (never activated, or reset by an operator since it was last online).
  std::string product_secret;
  bool dynamic_registration = false;
  bool registrable = false;
  // Gateways and sub-devices: whether the device's product is a gateway, and the key (Key()) of the
  // gateway whose topology holds the device ("" when none).
  bool gateway = false;
  std::string gateway_key;
};

// In-memory device credentials, filled and kept current by a background thread; read on the broker
// thread at every CONNECT without touching the database.
class DeviceDirectory final {
 public:
  std::optional<DeviceRecord> Find(std::string_view product_key, std::string_view device_name) const;
  void Upsert(const std::string& product_key, const std::string& device_name, DeviceRecord record);
  void Remove(const std::string& product_key, const std::string& device_name);
  // A device connected with its own secret: it may no longer register (until reset in the database).
  void MarkActivated(std::string_view product_key, std::string_view device_name);
  // Replaces everything (initial load and resync after a lost LISTEN connection).
  void ReplaceAll(std::unordered_map<std::string, DeviceRecord> by_key);
  std::size_t Size() const;

  static std::string Key(std::string_view product_key, std::string_view device_name);

 private:
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, DeviceRecord> devices_;  // key: pk + '/' + dn
};

struct ServiceAccount {
  std::string name;
  Role role = Role::kGateway;
  std::array<unsigned char, 32> secret_sha256{};
};

// Parses `role:sha256hex` (the form in mosquitto.conf: plugin_opt_account_<name> gateway:<hex>).
std::optional<ServiceAccount> ParseServiceAccount(std::string_view name, std::string_view spec);

enum class AuthResult {
  kAllowed,
  kBadCredentials,
  kUnknownDevice,
  kDisabled,
  kAnonymousRefused,
  kStaleTimestamp
};
std::string_view AuthResultName(AuthResult result);

struct AuthDecision {
  AuthResult result = AuthResult::kBadCredentials;
  Identity identity;
};

struct AccessSettings {
  bool allow_anonymous = false;  // development only
  std::vector<ServiceAccount> accounts;
};

// CONNECT authentication: service accounts by name and hashed secret, devices by Alink signature
// (reference §5.1) against the directory.
class Authenticator final {
 public:
  Authenticator(AccessSettings settings, const DeviceDirectory& directory);
  // `now_ms` (epoch ms) is checked against the signed timestamp when the device's product has a window.
  AuthDecision Authenticate(std::string_view client_id, const char* username, const char* password,
                            std::int64_t now_ms = 0) const;

  // Who an already authenticated client is, from its username alone. ACL checks use this rather
  // than per-connection state because the broker also checks read access for offline persistent
  // sessions (the gateway's, above all), whose connection is gone.
  Identity IdentityOf(const char* username) const;

 private:
  AccessSettings settings_;
  const DeviceDirectory& directory_;
};

// MQTT access kinds, as Mosquitto's MOSQ_ACL_* values.
enum class Access { kRead = 1, kWrite = 2, kSubscribe = 4, kUnsubscribe = 8 };

// Topic authorisation. Devices: only their own topic space; they publish only uplink topics (no
// retained publishes), read only downlink topics (their own messages never come back to them), and
// subscribe only to downlink topics, plus the subscriptions the official SDKs make (DeviceMaySubscribe).
// Custom topics (/{pk}/{dn}/user/...) and custom RRPC (/ext/rrpc/{id}/<its own topic>) go both ways;
// a device's answer on /ext/rrpc/... is re-routed by the plugin (RerouteRrpcAnswer), so it never comes
// back to it. Broadcast topics of its own product (/broadcast/{pk}/...) it may subscribe to and read,
// never publish.
// Whether a session may receive now (current connection, rate) is the plugin's Sessions' decision.
// Service accounts: the fixed topic lists of their service.
bool AclAllows(const Identity& identity, std::string_view topic, Access access, bool retain);

// True when `topic` (concrete, in some device's space) is one the device sends: requests, replies to
// downlinks, user topics, shadow updates, OTA reports; and any topic the protocol does not name.
bool IsDeviceUplink(std::string_view topic);

// Subscription filters of a device (already known to lie in its own space): concrete downlink topics,
// and the SDKs' known subscriptions (reference: the list after the Alink topic index), wildcards only
// in those forms: /sys/{pk}/{dn}/#, .../thing/#, .../thing/service/+, .../thing/service/#,
// .../thing/event/+/post_reply, .../rrpc/request/+; and the Node SDK's .../thing/config/push_reply.
// Also any filter below /{pk}/{dn}/user/ and /ext/rrpc/ (the inner topic its own, e.g. the C SDK's
// /ext/rrpc/+/sys/{pk}/{dn}/thing/service/+ and Alibaba's /ext/rrpc/+/{pk}/{dn}/user/<suffix>).
bool DeviceMaySubscribe(std::string_view filter, std::string_view product_key, std::string_view device_name);

// True for a well-formed topic or filter below /broadcast/{pk}/ (wildcards only as whole levels, '#'
// last).
bool IsProductBroadcast(std::string_view topic_or_filter, std::string_view product_key);

// A device's publish on /ext/rrpc/{id}/<inner> (its custom RRPC answer): the topic the broker delivers
// it on instead, /iot/rrpc/reply/{pk}/{dn}/{id}/<inner> (read by iot-api only). nullopt for every other
// topic.
std::optional<std::string> RerouteRrpcAnswer(std::string_view topic, std::string_view product_key,
                                             std::string_view device_name);

// The device a concrete topic belongs to: the {pk}/{dn} levels of a topic in some device's space
// (TopicBelongsToDevice's families, /ext/rrpc/{id}/<inner> by its inner topic, and the re-routed
// /iot/rrpc/reply/{pk}/{dn}/...). nullopt for other topics.
struct TopicDevice {
  std::string product_key;
  std::string device_name;
};
std::optional<TopicDevice> DeviceOfTopic(std::string_view topic);

// Subscription filters of a gateway device (a Link SDK gateway subscribes for its sub-devices with
// `+` in their place, e.g. /sys/+/+/thing/service/property/set, or per sub-device after its login):
// the filter with its device levels set to the gateway's own must be one the gateway may subscribe to
// itself, and those levels must be `+`/`+`, the gateway itself, or a device `in_topology` accepts.
// What the broker then delivers is checked per message (only sub-devices logged in through the
// gateway's connection: the plugin's Sessions).
bool GatewayMaySubscribe(const Identity& gateway, std::string_view filter,
                         const std::function<bool(std::string_view, std::string_view)>& in_topology);

}  // namespace iot::broker

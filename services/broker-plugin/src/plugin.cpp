// Mosquitto 2.0 plugin entry points (plugin API v5). Everything here runs on the broker's own thread,
// except DirectorySync, which keeps device credentials current in the background. No exception may
// cross into the broker: every callback catches.
//
// mosquitto.conf options (written by deploy/lib/platform.sh):
//   plugin_opt_pg_dsn            PostgreSQL connection string (device credentials)
//   plugin_opt_account_<name>    <role>:<sha256 hex of the secret>, role gateway or api
//   plugin_opt_allow_anonymous   true only for development
//   plugin_opt_stats_interval_s  how often counters go to /iot/broker/stats (default 10)
//   plugin_opt_log_format        logfmt (default) or json, for the plugin's own log lines
//   plugin_opt_device_downlink_bytes  bytes/s one device may receive, each message counting 256 bytes
//                                     more than its payload (default 1048576, 0 = no limit)

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <nlohmann/json.hpp>

#include "access.hpp"
#include "directory_sync.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/alink/session.hpp"
#include "iot/alink/status.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"
#include "registration.hpp"
#include "sessions.hpp"

using iot::NowMs;

namespace {

constexpr const char* kLog = "broker-plugin";
// Where the plugin sends the sub-device session requests it answered itself (OnMessage): no client
// may subscribe to or read it, so the request ends there.
constexpr const char* kSessionConsumedTopic = "/iot/session/consumed";

// Counters reported on /iot/broker/stats (JSON) for the platform and its tests.
struct Stats {
  std::uint64_t auth_allowed = 0;
  std::uint64_t auth_refused = 0;
  std::uint64_t acl_denied_publish = 0;
  std::uint64_t acl_denied_subscribe = 0;
  std::uint64_t acl_denied_read = 0;
  std::uint64_t read_denied_parked = 0;     // a device session that is not its current connection
  std::uint64_t downlink_rate_limited = 0;  // over the device's downlink limits
  std::uint64_t retained_refused = 0;
  std::uint64_t kicked_replaced = 0;
  std::uint64_t kicked_disabled = 0;
  std::uint64_t lifecycle_published = 0;
  std::uint64_t registrations = 0;  // registration CONNECTs accepted (secret pushed)
  std::uint64_t registrations_refused = 0;
  std::uint64_t sub_logins = 0;          // sub-device sessions started (combine.login)
  std::uint64_t sub_logins_refused = 0;  // sub-device logins answered with an error
};

struct Plugin {
  mosquitto_plugin_id_t* id = nullptr;
  iot::broker::DeviceDirectory directory;
  std::unique_ptr<iot::broker::Authenticator> auth;
  std::unique_ptr<iot::broker::DirectorySync> sync;
  iot::broker::Sessions sessions;
  iot::broker::PendingRegistrations registrations;
  Stats stats;
  int stats_interval_s = 10;
  std::int64_t next_stats_ms = 0;
};

void PublishStatus(Plugin& plugin, const iot::broker::StatusChange& change) {
  iot::alink::StatusMessage message;
  message.status = change.online ? iot::alink::DeviceStatus::kOnline : iot::alink::DeviceStatus::kOffline;
  message.product_key = change.product_key;
  message.device_name = change.device_name;
  message.time_ms = change.time_ms;
  message.last_time_ms = change.time_ms;  // the moment of this transition
  message.client_ip = change.client_ip;
  message.seq = static_cast<std::uint64_t>(change.seq);
  iot::alink::Topic topic;
  topic.kind = iot::alink::TopicKind::kMqttStatus;
  topic.product_key = change.product_key;
  topic.device_name = change.device_name;
  const std::string payload = iot::alink::EncodeStatus(message);
  const std::string topic_name = iot::alink::FormatTopic(topic);
  // QoS 1: the gateway's persistent shared subscription holds it while the gateway is away.
  if (mosquitto_broker_publish_copy(nullptr, topic_name.c_str(), static_cast<int>(payload.size()),
                                    payload.data(), 1, false, nullptr) == MOSQ_ERR_SUCCESS) {
    ++plugin.stats.lifecycle_published;
  }
}

void PublishStats(Plugin& plugin) {
  const auto& s = plugin.stats;
  std::string json = "{\"authAllowed\":" + std::to_string(s.auth_allowed) +
                     ",\"authRefused\":" + std::to_string(s.auth_refused) +
                     ",\"aclDeniedPublish\":" + std::to_string(s.acl_denied_publish) +
                     ",\"aclDeniedSubscribe\":" + std::to_string(s.acl_denied_subscribe) +
                     ",\"aclDeniedRead\":" + std::to_string(s.acl_denied_read) +
                     ",\"readDeniedParked\":" + std::to_string(s.read_denied_parked) +
                     ",\"downlinkRateLimited\":" + std::to_string(s.downlink_rate_limited) +
                     ",\"retainedRefused\":" + std::to_string(s.retained_refused) +
                     ",\"kickedReplaced\":" + std::to_string(s.kicked_replaced) +
                     ",\"kickedDisabled\":" + std::to_string(s.kicked_disabled) +
                     ",\"lifecyclePublished\":" + std::to_string(s.lifecycle_published) +
                     ",\"registrations\":" + std::to_string(s.registrations) +
                     ",\"registrationsRefused\":" + std::to_string(s.registrations_refused) +
                     ",\"subLogins\":" + std::to_string(s.sub_logins) +
                     ",\"subLoginsRefused\":" + std::to_string(s.sub_logins_refused) +
                     ",\"onlineSubDevices\":" + std::to_string(plugin.sessions.OnlineSubDevices()) +
                     ",\"onlineDevices\":" + std::to_string(plugin.sessions.OnlineDevices()) +
                     ",\"knownDevices\":" + std::to_string(plugin.directory.Size()) + "}";
  mosquitto_broker_publish_copy(nullptr, "/iot/broker/stats", static_cast<int>(json.size()), json.data(), 0,
                                false, nullptr);
}

int OnBasicAuth(int /*event*/, void* event_data, void* userdata) {
  try {
    auto& plugin = *static_cast<Plugin*>(userdata);
    auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
    const char* client_id = mosquitto_client_id(ed->client);
    // MQTT dynamic registration: a session of its own that only receives the secret (registration.hpp).
    if (auto registration = iot::broker::CheckRegistration(
            plugin.directory, client_id == nullptr ? "" : client_id, ed->username, ed->password)) {
      if (!registration->allowed) {
        ++plugin.stats.registrations_refused;
        IOT_LOG_DEBUG(kLog, "msg=\"registration refused\" reason=" << iot::log::Quote(registration->reason));
        return MOSQ_ERR_AUTH;
      }
      ++plugin.stats.registrations;
      plugin.registrations.Add(client_id, std::move(registration->payload), NowMs());
      return MOSQ_ERR_SUCCESS;
    }
    const auto decision =
        plugin.auth->Authenticate(client_id == nullptr ? "" : client_id, ed->username, ed->password, NowMs());
    if (decision.result != iot::broker::AuthResult::kAllowed) {
      ++plugin.stats.auth_refused;
      IOT_LOG_DEBUG(kLog, "msg=\"connect refused\" reason="
                              << iot::broker::AuthResultName(decision.result)
                              << " username=" << iot::log::Quote(ed->username ? ed->username : ""));
      return MOSQ_ERR_AUTH;
    }
    ++plugin.stats.auth_allowed;
    if (decision.identity.role == iot::broker::Role::kDevice) {
      plugin.directory.MarkActivated(decision.identity.product_key, decision.identity.device_name);
      // Mosquitto 2.0.11 has no connect event: a successful authentication is the connect.
      const char* address = mosquitto_client_address(ed->client);
      auto outcome = plugin.sessions.OnDeviceConnected(ed->client, client_id, decision.identity,
                                                       address == nullptr ? "" : address, NowMs());
      if (outcome.kick_client_id) {
        ++plugin.stats.kicked_replaced;
        mosquitto_kick_client_by_clientid(outcome.kick_client_id->c_str(), false);
      }
      PublishStatus(plugin, outcome.online);
    }
    return MOSQ_ERR_SUCCESS;
  } catch (...) {
    return MOSQ_ERR_AUTH;
  }
}

// combine.login / logout and their batch forms, answered by the plugin itself: it holds the
// secrets, and the ACL must admit a sub-device's topics before the gateway sees the login reply. The
// reply goes to the gateway's connection alone (QoS 0); the request goes no further (the caller drops
// it), so the platform's gateway service never sees it.
void HandleSession(Plugin& plugin, const mosquitto_evt_message& ed, const iot::broker::Identity& gateway,
                   const iot::alink::Topic& topic) {
  using nlohmann::json;
  const std::string_view method = iot::alink::SessionMethod(topic.kind);
  const auto reply_topic = iot::alink::ReplyTopicFor(topic);
  const char* client_id = mosquitto_client_id(ed.client);
  if (!reply_topic || client_id == nullptr) {
    return;
  }
  auto send = [&](std::string_view id, int code, const json& data, std::string_view message) {
    const std::string payload = iot::alink::BuildReply(id, code, method, data, message);
    const std::string name = iot::alink::FormatTopic(*reply_topic);
    mosquitto_broker_publish_copy(client_id, name.c_str(), static_cast<int>(payload.size()), payload.data(),
                                  0, false, nullptr);
  };
  const std::string_view payload(static_cast<const char*>(ed.payload), ed.payloadlen);
  auto request = iot::alink::DecodeRequest(payload);
  if (!request) {
    ++plugin.stats.sub_logins_refused;
    send("", iot::alink::AlinkCode(request.error()), json(""), request.error().message());
    return;
  }
  auto params = iot::alink::DecodeSessionParams(topic.kind, *request->params);
  if (!params) {
    ++plugin.stats.sub_logins_refused;
    if (request->ack) {
      send(request->id, iot::alink::AlinkCode(params.error()), json(""), params.error().message());
    }
    return;
  }
  const std::int64_t now = NowMs();
  std::vector<std::pair<iot::alink::SubDeviceKey, iot::broker::SubSessionResult>> results;
  for (const auto& login : params->logins) {
    auto result = plugin.sessions.SubLogin(ed.client, gateway, plugin.directory, login, now);
    if (result.code == 200) {
      ++plugin.stats.sub_logins;
    } else {
      ++plugin.stats.sub_logins_refused;
      IOT_LOG_DEBUG(kLog, "msg=\"sub-device login refused\" code="
                              << result.code
                              << " device=" << iot::log::Quote(login.product_key + "/" + login.device_name));
    }
    results.emplace_back(iot::alink::SubDeviceKey{login.product_key, login.device_name}, std::move(result));
  }
  for (const auto& logout : params->logouts) {
    results.emplace_back(logout,
                         plugin.sessions.SubLogout(ed.client, logout.product_key, logout.device_name, now));
  }
  for (const auto& [key, result] : results) {
    if (result.change) {
      PublishStatus(plugin, *result.change);
    }
  }
  if (!request->ack) {
    return;
  }
  const bool batch = topic.kind == iot::alink::TopicKind::kSessionBatchLogin ||
                     topic.kind == iot::alink::TopicKind::kSessionBatchLogout;
  if (!batch) {
    const auto& [key, result] = results.front();
    send(request->id, result.code, json{{"productKey", key.product_key}, {"deviceName", key.device_name}},
         result.message);
    return;
  }
  // Batch: each device's own result; the reply's code is the first failure's (200 when none).
  int code = 200;
  std::string message = "success";
  json data = json::array();
  for (const auto& [key, result] : results) {
    if (result.code != 200 && code == 200) {
      code = result.code;
      message = result.message;
    }
    data.push_back({{"productKey", key.product_key},
                    {"deviceName", key.device_name},
                    {"code", result.code},
                    {"message", result.message}});
  }
  send(request->id, code, data, message);
}

bool IsSessionRequest(iot::alink::TopicKind kind) {
  switch (kind) {
    case iot::alink::TopicKind::kSessionLogin:
    case iot::alink::TopicKind::kSessionLogout:
    case iot::alink::TopicKind::kSessionBatchLogin:
    case iot::alink::TopicKind::kSessionBatchLogout: return true;
    default: return false;
  }
}

// A device's custom RRPC answer (/ext/rrpc/{id}/<inner>, the request's own topic) goes to the
// internal /iot/rrpc/reply/{pk}/{dn}/... instead: its request subscription matches that topic, so
// without this it would receive its own answer as a new request (and answer it again). A gateway
// answers for a sub-device logged in through it under the sub-device's name.
// Sub-device session requests (/ext/session/...) are handled here and go no further.
int OnMessage(int /*event*/, void* event_data, void* userdata) {
  try {
    auto& plugin = *static_cast<Plugin*>(userdata);
    auto* ed = static_cast<mosquitto_evt_message*>(event_data);
    if (ed->topic == nullptr) {
      return MOSQ_ERR_SUCCESS;
    }
    const bool session = std::strncmp(ed->topic, "/ext/session/", 13) == 0;
    if (!session && std::strncmp(ed->topic, "/ext/rrpc/", 10) != 0) {
      return MOSQ_ERR_SUCCESS;
    }
    const auto identity = plugin.auth->IdentityOf(mosquitto_client_username(ed->client));
    if (identity.role != iot::broker::Role::kDevice) {
      return MOSQ_ERR_SUCCESS;  // the API's requests go out as they are
    }
    if (session) {
      const auto topic = iot::alink::ParseTopic(ed->topic);
      if (topic && !topic->reply && IsSessionRequest(topic->kind) &&
          topic->product_key == identity.product_key && topic->device_name == identity.device_name) {
        HandleSession(plugin, *ed, identity, *topic);
      }
      // Consumed here: the message goes on to a topic no client may subscribe to (rather than being
      // refused, which some Mosquitto 2.0 releases answer by closing the connection).
      char* consumed = mosquitto_strdup(kSessionConsumedTopic);
      if (consumed == nullptr) {
        return MOSQ_ERR_NOMEM;
      }
      mosquitto_free(ed->topic);
      ed->topic = consumed;
      ed->retain = false;
      return MOSQ_ERR_SUCCESS;
    }
    std::string_view owner_pk = identity.product_key;
    std::string_view owner_dn = identity.device_name;
    const auto inner = iot::broker::DeviceOfTopic(ed->topic);
    if (inner && (inner->product_key != owner_pk || inner->device_name != owner_dn) &&
        plugin.sessions.SubDeviceRoutedVia(ed->client, inner->product_key, inner->device_name)) {
      owner_pk = inner->product_key;
      owner_dn = inner->device_name;
    }
    auto rerouted = iot::broker::RerouteRrpcAnswer(ed->topic, owner_pk, owner_dn);
    if (!rerouted) {
      return MOSQ_ERR_SUCCESS;
    }
    char* topic = mosquitto_strdup(rerouted->c_str());
    if (topic == nullptr) {
      return MOSQ_ERR_NOMEM;
    }
    mosquitto_free(ed->topic);
    ed->topic = topic;
    return MOSQ_ERR_SUCCESS;
  } catch (...) {
    return MOSQ_ERR_ACL_DENIED;
  }
}

// A gateway device acting for its sub-devices (reference §2.17): it may subscribe with `+` in their
// place or to its topology's sub-devices, and publish and receive on the topics of the sub-devices
// logged in through this connection, by the sub-device's own rules. All in memory. nullopt when this
// does not apply (the caller refuses).
std::optional<int> GatewayAccess(Plugin& plugin, const mosquitto_evt_acl_check& ed,
                                 const iot::broker::Identity& gateway, std::string_view topic,
                                 iot::broker::Access access) {
  using iot::broker::Access;
  if (access == Access::kSubscribe) {
    const auto record = plugin.directory.Find(gateway.product_key, gateway.device_name);
    if (!record || !record->gateway) {
      return std::nullopt;
    }
    const std::string gateway_key =
        iot::broker::DeviceDirectory::Key(gateway.product_key, gateway.device_name);
    const bool allowed =
        iot::broker::GatewayMaySubscribe(gateway, topic, [&](std::string_view pk, std::string_view dn) {
          const auto sub = plugin.directory.Find(pk, dn);
          return sub && sub->gateway_key == gateway_key;
        });
    return allowed ? std::optional<int>(MOSQ_ERR_SUCCESS) : std::nullopt;
  }
  if (access != Access::kWrite && access != Access::kRead) {
    return std::nullopt;
  }
  const auto device = iot::broker::DeviceOfTopic(topic);
  if (!device || !plugin.sessions.SubDeviceRoutedVia(ed.client, device->product_key, device->device_name)) {
    return std::nullopt;
  }
  const iot::broker::Identity sub{iot::broker::Role::kDevice, device->product_key, device->device_name, ""};
  if (!iot::broker::AclAllows(sub, topic, access, ed.retain)) {
    return std::nullopt;
  }
  if (access == Access::kWrite) {
    return MOSQ_ERR_SUCCESS;
  }
  // Downlinks to the sub-device count against the gateway connection's limits.
  switch (plugin.sessions.AllowDownlink(ed.client, gateway, ed.payloadlen, NowMs())) {
    case iot::broker::Downlink::kAllowed: return MOSQ_ERR_SUCCESS;
    case iot::broker::Downlink::kNotCurrent: ++plugin.stats.read_denied_parked; break;
    case iot::broker::Downlink::kRateLimited: ++plugin.stats.downlink_rate_limited; break;
  }
  return MOSQ_ERR_ACL_DENIED;
}

int OnAclCheck(int /*event*/, void* event_data, void* userdata) {
  try {
    auto& plugin = *static_cast<Plugin*>(userdata);
    auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
    const char* acl_client_id = mosquitto_client_id(ed->client);
    if (acl_client_id != nullptr && iot::broker::IsRegistrationClientId(acl_client_id)) {
      // A registration session receives its secret and does nothing else.
      const bool push = ed->access == MOSQ_ACL_READ && ed->topic != nullptr &&
                        std::strcmp(ed->topic, iot::broker::kRegisterTopic) == 0;
      return push ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
    }
    const auto identity = plugin.auth->IdentityOf(mosquitto_client_username(ed->client));
    const auto access = static_cast<iot::broker::Access>(ed->access);
    const std::string_view acl_topic = ed->topic == nullptr ? "" : ed->topic;
    const bool allowed = iot::broker::AclAllows(identity, acl_topic, access, ed->retain) ||
                         (access == iot::broker::Access::kWrite &&
                          identity.role == iot::broker::Role::kDevice && acl_topic == kSessionConsumedTopic);
    if (!allowed && identity.role == iot::broker::Role::kDevice) {
      if (auto verdict = GatewayAccess(plugin, *ed, identity, acl_topic, access)) {
        return *verdict;
      }
    } else if (allowed) {
      if (identity.role != iot::broker::Role::kDevice || access != iot::broker::Access::kRead) {
        return MOSQ_ERR_SUCCESS;
      }
      // Checked per subscriber at delivery, offline persistent sessions included: what is refused
      // here is never queued, so no session of a device can make the broker hold its messages.
      switch (plugin.sessions.AllowDownlink(ed->client, identity, ed->payloadlen, NowMs())) {
        case iot::broker::Downlink::kAllowed: return MOSQ_ERR_SUCCESS;
        case iot::broker::Downlink::kNotCurrent: ++plugin.stats.read_denied_parked; break;
        case iot::broker::Downlink::kRateLimited: ++plugin.stats.downlink_rate_limited; break;
      }
      return MOSQ_ERR_ACL_DENIED;
    }
    switch (access) {
      case iot::broker::Access::kWrite:
        ++plugin.stats.acl_denied_publish;
        if (ed->retain) {
          ++plugin.stats.retained_refused;
        }
        break;
      case iot::broker::Access::kSubscribe: ++plugin.stats.acl_denied_subscribe; break;
      default: ++plugin.stats.acl_denied_read; break;
    }
    return MOSQ_ERR_ACL_DENIED;
  } catch (...) {
    return MOSQ_ERR_ACL_DENIED;
  }
}

int OnDisconnect(int /*event*/, void* event_data, void* userdata) {
  try {
    auto& plugin = *static_cast<Plugin*>(userdata);
    auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
    const char* gone_client_id = mosquitto_client_id(ed->client);
    if (gone_client_id != nullptr && iot::broker::IsRegistrationClientId(gone_client_id)) {
      plugin.registrations.Remove(gone_client_id);  // never a device session: no lifecycle message
      return MOSQ_ERR_SUCCESS;
    }
    const auto identity = plugin.auth->IdentityOf(mosquitto_client_username(ed->client));
    if (identity.role != iot::broker::Role::kDevice) {
      return MOSQ_ERR_SUCCESS;
    }
    const std::int64_t now = NowMs();
    if (auto change = plugin.sessions.OnDeviceDisconnected(ed->client, identity, now)) {
      PublishStatus(plugin, *change);
    }
    // Sub-devices logged in through this connection go offline with it.
    for (const auto& sub : plugin.sessions.OnGatewayGone(ed->client, now)) {
      PublishStatus(plugin, sub);
    }
  } catch (...) {
  }
  return MOSQ_ERR_SUCCESS;
}

// thing.disable / thing.enable / thing.delete on a sub-device's topic (Alibaba's downlinks to a
// gateway about its sub-devices), addressed to the gateway's connection `client_id`: the sub-device has
// no session then, so no subscription of the gateway would admit it.
void SendSubDeviceState(const std::string& client_id, iot::alink::TopicKind kind,
                        const std::string& product_key, const std::string& device_name, std::int64_t id) {
  iot::alink::Topic topic;
  topic.kind = kind;
  topic.product_key = product_key;
  topic.device_name = device_name;
  const std::string name = iot::alink::FormatTopic(topic);
  const std::string payload = iot::alink::BuildRequest(std::to_string(id), iot::alink::ExpectedMethod(topic),
                                                       nlohmann::json::object());
  mosquitto_broker_publish_copy(client_id.c_str(), name.c_str(), static_cast<int>(payload.size()),
                                payload.data(), 0, false, nullptr);
}

// A sub-device disabled or deleted while online through its gateway: the gateway gets thing.disable or
// thing.delete (its SDK drops the sub-device), since the sub-device's session just ended.
void TellGateway(const iot::broker::Sessions::EndedSub& ended) {
  using Reason = iot::broker::Sessions::EndedSub::Reason;
  if (ended.gateway_client_id.empty() || ended.reason == Reason::kOutOfTopology) {
    return;
  }
  SendSubDeviceState(
      ended.gateway_client_id,
      ended.reason == Reason::kDisabled ? iot::alink::TopicKind::kDisable : iot::alink::TopicKind::kDelete,
      ended.change.product_key, ended.change.device_name, ended.change.seq);
}

// A sub-device enabled again by an operator: its gateway, when connected, gets thing.enable (and may
// log it in again).
void TellGatewayEnabled(const Plugin& plugin, const iot::broker::DirectorySync::EnabledSubDevice& sub) {
  const auto slash = sub.gateway_key.find('/');
  if (slash == std::string::npos) {
    return;
  }
  const auto client_id =
      plugin.sessions.ClientIdOf(sub.gateway_key.substr(0, slash), sub.gateway_key.substr(slash + 1));
  if (client_id) {
    SendSubDeviceState(*client_id, iot::alink::TopicKind::kEnable, sub.product_key, sub.device_name, NowMs());
  }
}

int OnTick(int /*event*/, void* /*event_data*/, void* userdata) {
  try {
    auto& plugin = *static_cast<Plugin*>(userdata);
    if (plugin.sync) {
      bool recheck_all = false;
      std::vector<std::string> changed;
      auto kicks = plugin.sync->TakeKicks(recheck_all, &changed);
      for (const auto& enabled : plugin.sync->TakeEnabledSubDevices()) {
        TellGatewayEnabled(plugin, enabled);
      }
      if (recheck_all || !changed.empty()) {
        // Sub-devices deleted, disabled or moved out of their gateway's topology end their sessions.
        for (const auto& ended :
             plugin.sessions.RecheckSubDevices(plugin.directory, recheck_all ? nullptr : &changed, NowMs())) {
          TellGateway(ended);
          PublishStatus(plugin, ended.change);
        }
      }
      if (recheck_all) {
        plugin.sessions.ForEachOnline([&](const std::string& pk, const std::string& dn) {
          const auto record = plugin.directory.Find(pk, dn);
          if (!record || !record->enabled) {
            kicks.emplace_back(pk, dn);
          }
        });
      }
      for (const auto& [pk, dn] : kicks) {
        if (auto client_id = plugin.sessions.ClientIdOf(pk, dn)) {
          ++plugin.stats.kicked_disabled;
          mosquitto_kick_client_by_clientid(client_id->c_str(), false);
        }
      }
    }
    const std::int64_t now = NowMs();
    auto due = plugin.registrations.Take(now);
    for (const auto& [client_id, payload] : due.push) {
      // Addressed to the one client: delivered without a subscription, as Alibaba does.
      mosquitto_broker_publish_copy(client_id.c_str(), iot::broker::kRegisterTopic,
                                    static_cast<int>(payload.size()), payload.data(), 0, false, nullptr);
    }
    for (const auto& client_id : due.kick) {
      mosquitto_kick_client_by_clientid(client_id.c_str(), false);  // the device did not leave within 15 s
    }
    if (now >= plugin.next_stats_ms) {
      plugin.next_stats_ms = now + plugin.stats_interval_s * 1000LL;
      PublishStats(plugin);
    }
  } catch (...) {
  }
  return MOSQ_ERR_SUCCESS;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int mosquitto_plugin_version(int supported_version_count,
                                                                    const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) {
      return 5;
    }
  }
  return -1;
}

__attribute__((visibility("default"))) int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier,
                                                                 void** userdata,
                                                                 struct mosquitto_opt* options,
                                                                 int option_count) {
  try {
    auto plugin = std::make_unique<Plugin>();
    plugin->id = identifier;
    iot::broker::AccessSettings settings;
    iot::broker::DownlinkLimits limits;
    std::string dsn;
    for (int i = 0; i < option_count; ++i) {
      const std::string key = options[i].key == nullptr ? "" : options[i].key;
      const std::string value = options[i].value == nullptr ? "" : options[i].value;
      if (key == "pg_dsn") {
        dsn = value;
      } else if (key == "allow_anonymous") {
        settings.allow_anonymous = value == "true";
      } else if (key == "device_downlink_bytes") {
        limits.bytes_per_s = std::max(0.0, std::atof(value.c_str()));
      } else if (key == "stats_interval_s") {
        plugin->stats_interval_s = std::max(1, std::atoi(value.c_str()));
      } else if (key.rfind("account_", 0) == 0) {
        auto account = iot::broker::ParseServiceAccount(key.substr(8), value);
        if (!account) {
          IOT_LOG_ERROR(kLog, "msg=\"bad service account option\" option=" << iot::log::Quote(key));
          return MOSQ_ERR_INVAL;
        }
        settings.accounts.push_back(std::move(*account));
      } else if (key == "log_format") {
        iot::log::Format format{};
        if (iot::log::ParseFormat(value, format)) {
          iot::log::SetFormat(format);
        }
      } else if (key == "log_level") {
        iot::log::Level level{};
        if (iot::log::ParseLevel(value, level)) {
          iot::log::SetLevel(level);
        }
      }
    }
    plugin->sessions.SetDownlinkLimits(limits);
    if (settings.allow_anonymous) {
      IOT_LOG_WARN(kLog, "msg=\"anonymous clients allowed (development only)\"");
    }
    plugin->auth = std::make_unique<iot::broker::Authenticator>(std::move(settings), plugin->directory);
    if (!dsn.empty()) {
      plugin->sync = std::make_unique<iot::broker::DirectorySync>(dsn, plugin->directory);
      if (!plugin->sync->InitialLoad()) {
        IOT_LOG_WARN(kLog, "msg=\"database unreachable: devices are refused until it returns\"");
      }
      plugin->sync->Start();
    } else {
      IOT_LOG_WARN(kLog, "msg=\"no plugin_opt_pg_dsn: no device can connect\"");
    }
    Plugin* raw = plugin.get();
    mosquitto_callback_register(identifier, MOSQ_EVT_BASIC_AUTH, OnBasicAuth, nullptr, raw);
    mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, OnAclCheck, nullptr, raw);
    mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, OnDisconnect, nullptr, raw);
    mosquitto_callback_register(identifier, MOSQ_EVT_TICK, OnTick, nullptr, raw);
    mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, OnMessage, nullptr, raw);
    *userdata = plugin.release();
    return MOSQ_ERR_SUCCESS;
  } catch (const std::exception& e) {
    IOT_LOG_ERROR(kLog, "msg=\"init failed\" error=" << iot::log::Quote(e.what()));
    return MOSQ_ERR_UNKNOWN;
  }
}

__attribute__((visibility("default"))) int mosquitto_plugin_cleanup(void* userdata,
                                                                    struct mosquitto_opt* /*options*/,
                                                                    int /*option_count*/) {
  std::unique_ptr<Plugin> plugin(static_cast<Plugin*>(userdata));
  if (plugin == nullptr) {
    return MOSQ_ERR_SUCCESS;
  }
  mosquitto_callback_unregister(plugin->id, MOSQ_EVT_BASIC_AUTH, OnBasicAuth, nullptr);
  mosquitto_callback_unregister(plugin->id, MOSQ_EVT_ACL_CHECK, OnAclCheck, nullptr);
  mosquitto_callback_unregister(plugin->id, MOSQ_EVT_DISCONNECT, OnDisconnect, nullptr);
  mosquitto_callback_unregister(plugin->id, MOSQ_EVT_TICK, OnTick, nullptr);
  mosquitto_callback_unregister(plugin->id, MOSQ_EVT_MESSAGE, OnMessage, nullptr);
  if (plugin->sync) {
    plugin->sync->Stop();
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"

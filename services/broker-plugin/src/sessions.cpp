#include "sessions.hpp"

#include <algorithm>

#include "iot/common/codes.hpp"

namespace iot::broker {

std::int64_t Sessions::NextSeq(DeviceHistory& history, std::int64_t now_ms) {
  // Microseconds of wall time, bumped past the previous value: increasing within a run, and a broker
  // restart continues above what it sent before (unless the clock moved back by more than the gap).
  history.last_seq = std::max(history.last_seq + 1, now_ms * 1000);
  return history.last_seq;
}

ConnectOutcome Sessions::OnDeviceConnected(const void* client, std::string_view client_id,
                                           const Identity& identity, std::string_view client_ip,
                                           std::int64_t now_ms) {
  const std::string key = DeviceDirectory::Key(identity.product_key, identity.device_name);
  ConnectOutcome outcome;
  auto& connection = by_device_[key];
  if (connection.client != nullptr && connection.client != client && connection.client_id != client_id) {
    // Same client id: Mosquitto's own session takeover closes the old one.
    outcome.kick_client_id = connection.client_id;
  }
  connection.product_key = identity.product_key;
  connection.device_name = identity.device_name;
  connection.client = client;
  connection.client_id = std::string(client_id);
  connection.client_ip = std::string(client_ip);
  connection.tokens = kDownlinkBurstS * limits_.bytes_per_s;
  connection.refilled_ms = now_ms;

  auto& history = history_[key];
  outcome.online.product_key = identity.product_key;
  outcome.online.device_name = identity.device_name;
  outcome.online.online = true;
  outcome.online.client_ip = connection.client_ip;
  outcome.online.time_ms = now_ms;
  outcome.online.last_time_ms = history.last_time_ms;
  outcome.online.seq = NextSeq(history, now_ms);
  history.last_time_ms = now_ms;
  return outcome;
}

std::optional<StatusChange> Sessions::OnDeviceDisconnected(const void* client, const Identity& identity,
                                                           std::int64_t now_ms) {
  const std::string key = DeviceDirectory::Key(identity.product_key, identity.device_name);
  const auto it = by_device_.find(key);
  if (it == by_device_.end() || it->second.client != client) {
    return std::nullopt;  // replaced by a newer connection: the device is still online
  }
  StatusChange change;
  change.product_key = identity.product_key;
  change.device_name = identity.device_name;
  change.online = false;
  change.client_ip = it->second.client_ip;
  change.time_ms = now_ms;
  auto& history = history_[key];
  change.last_time_ms = history.last_time_ms;
  change.seq = NextSeq(history, now_ms);
  history.last_time_ms = now_ms;
  by_device_.erase(it);
  return change;
}

Downlink Sessions::AllowDownlink(const void* client, const Identity& identity, std::size_t bytes,
                                 std::int64_t now_ms) {
  const auto it = by_device_.find(DeviceDirectory::Key(identity.product_key, identity.device_name));
  if (it == by_device_.end() || it->second.client != client) {
    return Downlink::kNotCurrent;
  }
  if (limits_.bytes_per_s <= 0) {
    return Downlink::kAllowed;
  }
  auto& c = it->second;
  const double elapsed_s = static_cast<double>(std::max<std::int64_t>(0, now_ms - c.refilled_ms)) / 1000.0;
  c.refilled_ms = now_ms;
  const double cost = static_cast<double>(bytes) + kDownlinkMessageCost;
  c.tokens = std::min(kDownlinkBurstS * limits_.bytes_per_s, c.tokens + elapsed_s * limits_.bytes_per_s);
  if (c.tokens < cost) {
    return Downlink::kRateLimited;
  }
  c.tokens -= cost;
  return Downlink::kAllowed;
}

std::optional<std::string> Sessions::ClientIdOf(std::string_view product_key,
                                                std::string_view device_name) const {
  const auto it = by_device_.find(DeviceDirectory::Key(product_key, device_name));
  if (it == by_device_.end()) {
    return std::nullopt;
  }
  return it->second.client_id;
}

void Sessions::ForEachOnline(const std::function<void(const std::string&, const std::string&)>& fn) const {
  for (const auto& [key, connection] : by_device_) {
    fn(connection.product_key, connection.device_name);
  }
}

StatusChange Sessions::Transition(const std::string& key, const std::string& product_key,
                                  const std::string& device_name, bool online, const std::string& client_ip,
                                  std::int64_t now_ms) {
  auto& history = history_[key];
  StatusChange change;
  change.product_key = product_key;
  change.device_name = device_name;
  change.online = online;
  change.client_ip = client_ip;
  change.time_ms = now_ms;
  change.last_time_ms = history.last_time_ms;
  change.seq = NextSeq(history, now_ms);
  history.last_time_ms = now_ms;
  return change;
}

StatusChange Sessions::EndSub(std::unordered_map<std::string, SubSession>::iterator it, std::int64_t now_ms) {
  const std::string key = it->first;
  SubSession sub = std::move(it->second);
  subs_.erase(it);
  if (auto by = subs_by_client_.find(sub.gateway_client); by != subs_by_client_.end()) {
    by->second.erase(key);
    if (by->second.empty()) {
      subs_by_client_.erase(by);
    }
  }
  return Transition(key, sub.product_key, sub.device_name, false, sub.client_ip, now_ms);
}

SubSessionResult Sessions::SubLogin(const void* client, const Identity& gateway,
                                    const DeviceDirectory& directory, const alink::SubDeviceSign& sub,
                                    std::int64_t now_ms) {
  SubSessionResult result;
  auto fail = [&](int code, std::string message) {
    result.code = code;
    result.message = std::move(message);
    return result;
  };
  const std::string gateway_key = DeviceDirectory::Key(gateway.product_key, gateway.device_name);
  if (const auto own = directory.Find(gateway.product_key, gateway.device_name); !own || !own->gateway) {
    return fail(codes::kTopoNotExist, "topological relation not exist: not a gateway");
  }
  const auto record = directory.Find(sub.product_key, sub.device_name);
  if (!record) {
    return fail(codes::kDeviceNotFound, "device not found");
  }
  if (!alink::VerifySubDeviceSign(sub, record->secret)) {
    return fail(codes::kSubDeviceSignInvalid, "sub-device sign check failed");
  }
  if (record->gateway_key != gateway_key) {
    return fail(codes::kTopoNotExist, "topological relation not exist");
  }
  if (!record->enabled) {
    return fail(codes::kSubDeviceDisabled, "sub-device disabled");
  }
  const std::string key = DeviceDirectory::Key(sub.product_key, sub.device_name);
  auto it = subs_.find(key);
  if (it != subs_.end()) {
    if (it->second.gateway_key != gateway_key) {
      return fail(codes::kSubDeviceNoSession, "sub-device online through another gateway");
    }
    if (it->second.gateway_client == client) {
      return result;  // already online through this connection
    }
    // A newer connection of the same gateway takes the session over.
    if (auto by = subs_by_client_.find(it->second.gateway_client); by != subs_by_client_.end()) {
      by->second.erase(key);
      if (by->second.empty()) {
        subs_by_client_.erase(by);
      }
    }
    it->second.gateway_client = client;
    subs_by_client_[client].insert(key);
    return result;
  }
  auto& mine = subs_by_client_[client];
  if (mine.size() >= kMaxSubDevicesOnline) {
    return fail(codes::kSubDevicesOnlineTooMany, "too many sub-devices online under the gateway");
  }
  std::string client_ip;
  if (const auto gw = by_device_.find(gateway_key); gw != by_device_.end()) {
    client_ip = gw->second.client_ip;
  }
  mine.insert(key);
  subs_.emplace(key, SubSession{sub.product_key, sub.device_name, gateway_key, client, client_ip});
  result.change = Transition(key, sub.product_key, sub.device_name, true, client_ip, now_ms);
  return result;
}

SubSessionResult Sessions::SubLogout(const void* client, std::string_view product_key,
                                     std::string_view device_name, std::int64_t now_ms) {
  SubSessionResult result;
  const auto it = subs_.find(DeviceDirectory::Key(product_key, device_name));
  if (it == subs_.end() || it->second.gateway_client != client) {
    result.code = codes::kSubDeviceNoSession;
    result.message = "sub-device session not exist";
    return result;
  }
  result.change = EndSub(it, now_ms);
  return result;
}

std::vector<StatusChange> Sessions::OnGatewayGone(const void* client, std::int64_t now_ms) {
  std::vector<StatusChange> out;
  const auto by = subs_by_client_.find(client);
  if (by == subs_by_client_.end()) {
    return out;
  }
  const std::vector<std::string> keys(by->second.begin(), by->second.end());
  out.reserve(keys.size());
  for (const auto& key : keys) {
    if (auto it = subs_.find(key); it != subs_.end()) {
      out.push_back(EndSub(it, now_ms));
    }
  }
  subs_by_client_.erase(client);
  return out;
}

std::vector<Sessions::EndedSub> Sessions::RecheckSubDevices(const DeviceDirectory& directory,
                                                            const std::vector<std::string>* keys,
                                                            std::int64_t now_ms) {
  std::vector<std::string> candidates;
  if (keys != nullptr) {
    candidates = *keys;
  } else {
    candidates.reserve(subs_.size());
    for (const auto& [key, sub] : subs_) {
      candidates.push_back(key);
    }
  }
  std::vector<EndedSub> out;
  for (const auto& key : candidates) {
    const auto it = subs_.find(key);
    if (it == subs_.end()) {
      continue;
    }
    const auto record = directory.Find(it->second.product_key, it->second.device_name);
    EndedSub ended;
    if (!record) {
      ended.reason = EndedSub::Reason::kDeleted;
    } else if (record->gateway_key != it->second.gateway_key) {
      ended.reason = EndedSub::Reason::kOutOfTopology;
    } else if (!record->enabled) {
      ended.reason = EndedSub::Reason::kDisabled;
    } else {
      continue;
    }
    if (const auto gw = by_device_.find(it->second.gateway_key);
        gw != by_device_.end() && gw->second.client == it->second.gateway_client) {
      ended.gateway_client_id = gw->second.client_id;
    }
    ended.change = EndSub(it, now_ms);
    out.push_back(std::move(ended));
  }
  return out;
}

bool Sessions::SubDeviceRoutedVia(const void* client, std::string_view product_key,
                                  std::string_view device_name) const {
  const auto it = subs_.find(DeviceDirectory::Key(product_key, device_name));
  return it != subs_.end() && it->second.gateway_client == client;
}

}  // namespace iot::broker

#include "sessions.hpp"

#include <algorithm>

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

}  // namespace iot::broker

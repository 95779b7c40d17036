#include "registration.hpp"

#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"

namespace iot::broker {

bool IsRegistrationClientId(std::string_view client_id) {
  const auto first = client_id.find('|');
  if (first == std::string_view::npos) {
    return false;
  }
  const auto extension = client_id.substr(first + 1);
  for (std::size_t at = extension.find("authType="); at != std::string_view::npos;
       at = extension.find("authType=", at + 1)) {
    if (at == 0 || extension[at - 1] == ',') {
      const auto value = extension.substr(at + 9, extension.find_first_of(",|", at + 9) - (at + 9));
      return value == "register" || value == "regnwl";
    }
  }
  return false;
}

std::optional<RegistrationDecision> CheckRegistration(const DeviceDirectory& directory,
                                                      std::string_view client_id, const char* username,
                                                      const char* password) {
  if (!IsRegistrationClientId(client_id) || username == nullptr) {
    return std::nullopt;
  }
  RegistrationDecision decision;
  auto credentials = alink::ParseConnect(client_id, username);
  if (!credentials) {
    decision.reason = "malformed registration CONNECT";
    return decision;
  }
  const auto auth_type = credentials->Extension("authType");
  if (!auth_type || *auth_type != "register") {
    decision.reason = "only pre-registration (authType=register) is supported";
    return decision;
  }
  const auto random = credentials->Extension("random");
  if (!random || random->empty() || random->size() > 64) {
    decision.reason = "random missing";
    return decision;
  }
  const auto device = directory.Find(credentials->product_key, credentials->device_name);
  // The product's secret and switch are on every device record of the product; the signature is checked
  // against it before the device's own state is looked at (an unknown device fails as a bad signature).
  const std::string product_secret = device ? device->product_secret : std::string();
  if (device && !device->dynamic_registration) {
    decision.reason = "dynamic registration is off";
    return decision;
  }
  const std::string_view pass = password == nullptr ? std::string_view() : std::string_view(password);
  if (!alink::VerifyRegisterSign(credentials->sign_method, product_secret, credentials->device_name,
                                 credentials->product_key, *random, pass)) {
    decision.reason = "bad signature";
    return decision;
  }
  if (!device->enabled) {
    decision.reason = "device disabled";
    return decision;
  }
  if (!device->registrable) {
    decision.reason = "device already activated";
    return decision;
  }
  decision.allowed = true;
  decision.payload = nlohmann::json{
      {"productKey", credentials->product_key},
      {"deviceName", credentials->device_name},
      {"deviceSecret",
       device->secret}}.dump();
  return decision;
}

void PendingRegistrations::Add(const std::string& client_id, std::string payload, std::int64_t now_ms) {
  pending_[client_id] = Entry{std::move(payload), now_ms, false};
}

void PendingRegistrations::Remove(const std::string& client_id) { pending_.erase(client_id); }

PendingRegistrations::Due PendingRegistrations::Take(std::int64_t now_ms) {
  Due due;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& entry = it->second;
    if (!entry.pushed && now_ms - entry.connected_ms >= kRegisterPushDelayMs) {
      entry.pushed = true;
      due.push.emplace_back(it->first, entry.payload);
    }
    if (now_ms - entry.connected_ms >= kRegisterSessionMs) {
      due.kick.push_back(it->first);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

}  // namespace iot::broker

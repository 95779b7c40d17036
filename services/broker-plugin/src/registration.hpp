#pragma once

// MQTT dynamic registration, one product one secret with pre-registration (reference §5.2):
// clientId "<id>|securemode=2|-2,authType=register,random=<r>,signmethod=<m>|", username "dn&pk",
// password HMAC(ProductSecret, "deviceName{dn}productKey{pk}random{r}"). After CONNACK the broker pushes
// {"productKey","deviceName","deviceSecret"} on /ext/register without a subscription; the session may
// do nothing else and is closed after 15 s if the device does not leave. Broker thread only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "access.hpp"

namespace iot::broker {

inline constexpr const char* kRegisterTopic = "/ext/register";
inline constexpr std::int64_t kRegisterPushDelayMs = 100;  // after CONNACK has gone out
inline constexpr std::int64_t kRegisterSessionMs = 15000;  // then the broker closes it

// True when the clientId asks for registration (authType=register in its extension). Such a session
// is never a device session, whatever it does.
bool IsRegistrationClientId(std::string_view client_id);

struct RegistrationDecision {
  bool allowed = false;
  std::string reason;   // why not (logs)
  std::string payload;  // the /ext/register message when allowed
};

// nullopt: not a registration CONNECT (authType other than register, or none). Refused when the product
// does not allow dynamic registration, the signature is wrong (checked first: a wrong signature never
// tells whether the device exists), the device is unknown or disabled, or it was activated already
// (registration reset by an operator allows it again). `regnwl` (no pre-registration) is refused.
std::optional<RegistrationDecision> CheckRegistration(const DeviceDirectory& directory,
                                                      std::string_view client_id, const char* username,
                                                      const char* password);

// Registration sessions waiting for their push and their end.
class PendingRegistrations final {
 public:
  void Add(const std::string& client_id, std::string payload, std::int64_t now_ms);
  void Remove(const std::string& client_id);
  struct Due {
    std::vector<std::pair<std::string, std::string>> push;  // client id, payload
    std::vector<std::string> kick;                          // client ids
  };
  Due Take(std::int64_t now_ms);
  std::size_t Size() const { return pending_.size(); }

 private:
  struct Entry {
    std::string payload;
    std::int64_t connected_ms = 0;
    bool pushed = false;
  };
  std::unordered_map<std::string, Entry> pending_;
};

}  // namespace iot::broker

#include "access.hpp"

#include <algorithm>
#include <charconv>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "filter.hpp"
#include "iot/alink/credentials.hpp"
#include "iot/alink/custom_topic.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/hex.hpp"

namespace iot::broker {
namespace {

// Topic lists of the platform's services (see README "Broker access"). Shared-subscription prefixes
// are stripped before matching, so `$share/gw//sys/+/+/thing/event/+/post` is allowed by the
// same entry as the plain filter.
struct RolePatterns {
  std::vector<std::string_view> subscribe;  // also what it may read
  std::vector<std::string_view> publish;
};

const RolePatterns& PatternsFor(Role role) {
  // The gateway consumes everything devices send and the lifecycle messages, and answers devices.
  static const RolePatterns kGateway{
      {"/sys/+/+/thing/#", "/sys/+/+/_thing/#", "/ext/ntp/+/+/request", "/ext/session/+/+/combine/+",
       "/as/mqtt/status/+/+", "/ota/device/+/+/+", "/shadow/update/+/+", "/+/+/user/#", "/iot/broker/stats",
       "$SYS/broker/#"},
      {"/sys/+/+/thing/#", "/sys/+/+/_thing/#", "/ext/ntp/+/+/response", "/ext/session/+/+/combine/+",
       "/shadow/get/+/+", "/ota/device/upgrade/+/+"}};
  // The API sends commands, shadow control, configuration and OTA upgrade pushes, custom-topic messages,
  // broadcasts and custom RRPC requests, and takes the answers to the synchronous calls it has in flight
  // (custom RRPC answers as re-routed by the plugin).
  static const RolePatterns kApi{
      {"/sys/+/+/rrpc/response/+", "/iot/rrpc/reply/#", "/iot/broker/stats"},
      {"/sys/+/+/thing/service/+", "/sys/+/+/thing/service/property/set", "/sys/+/+/rrpc/request/+",
       "/sys/+/+/thing/model/down_raw", "/shadow/get/+/+", "/sys/+/+/thing/config/push", "/+/+/user/#",
       "/broadcast/+/#", "/ext/rrpc/#", "/ota/device/upgrade/+/+"}};
  static const RolePatterns kNone{};
  switch (role) {
    case Role::kGateway: return kGateway;
    case Role::kApi: return kApi;
    default: return kNone;
  }
}

bool AnyCovers(const std::vector<std::string_view>& patterns, std::string_view filter) {
  for (auto pattern : patterns) {
    if (FilterCovers(pattern, filter)) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string DeviceDirectory::Key(std::string_view product_key, std::string_view device_name) {
  std::string key;
  key.reserve(product_key.size() + device_name.size() + 1);
  key.append(product_key).append("/").append(device_name);
  return key;
}

std::optional<DeviceRecord> DeviceDirectory::Find(std::string_view product_key,
                                                  std::string_view device_name) const {
  const std::string key = Key(product_key, device_name);
  std::shared_lock lock(mutex_);
  const auto it = devices_.find(key);
  if (it == devices_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void DeviceDirectory::Upsert(const std::string& product_key, const std::string& device_name,
                             DeviceRecord record) {
  std::unique_lock lock(mutex_);
  devices_[Key(product_key, device_name)] = std::move(record);
}

void DeviceDirectory::MarkActivated(std::string_view product_key, std::string_view device_name) {
  const std::string key = Key(product_key, device_name);
  std::unique_lock lock(mutex_);
  if (auto it = devices_.find(key); it != devices_.end()) {
    it->second.registrable = false;
  }
}

void DeviceDirectory::Remove(const std::string& product_key, const std::string& device_name) {
  std::unique_lock lock(mutex_);
  devices_.erase(Key(product_key, device_name));
}

void DeviceDirectory::ReplaceAll(std::unordered_map<std::string, DeviceRecord> by_key) {
  std::unique_lock lock(mutex_);
  devices_.swap(by_key);
}

std::size_t DeviceDirectory::Size() const {
  std::shared_lock lock(mutex_);
  return devices_.size();
}

std::optional<ServiceAccount> ParseServiceAccount(std::string_view name, std::string_view spec) {
  const auto colon = spec.find(':');
  if (name.empty() || colon == std::string_view::npos) {
    return std::nullopt;
  }
  ServiceAccount account;
  account.name = std::string(name);
  const auto role = spec.substr(0, colon);
  if (role == "gateway") {
    account.role = Role::kGateway;
  } else if (role == "api") {
    account.role = Role::kApi;
  } else {
    return std::nullopt;
  }
  const auto secret = FromHex(spec.substr(colon + 1));
  if (!secret || secret->size() != account.secret_sha256.size()) {
    return std::nullopt;
  }
  std::copy(secret->begin(), secret->end(), account.secret_sha256.begin());
  return account;
}

std::string_view AuthResultName(AuthResult result) {
  switch (result) {
    case AuthResult::kAllowed: return "allowed";
    case AuthResult::kBadCredentials: return "bad_credentials";
    case AuthResult::kUnknownDevice: return "unknown_device";
    case AuthResult::kDisabled: return "disabled";
    case AuthResult::kAnonymousRefused: return "anonymous";
    case AuthResult::kStaleTimestamp: return "timestamp_outside_window";
  }
  return "bad_credentials";
}

Authenticator::Authenticator(AccessSettings settings, const DeviceDirectory& directory)
    : settings_(std::move(settings)), directory_(directory) {}

AuthDecision Authenticator::Authenticate(std::string_view client_id, const char* username,
                                         const char* password, std::int64_t now_ms) const {
  AuthDecision decision;
  if (username == nullptr || *username == '\0') {
    decision.result = settings_.allow_anonymous ? AuthResult::kAllowed : AuthResult::kAnonymousRefused;
    return decision;
  }
  const std::string_view user(username);
  const std::string_view pass = password == nullptr ? std::string_view() : std::string_view(password);

  // Service accounts have plain names (no '&'); compare SHA-256 digests in constant time.
  for (const auto& account : settings_.accounts) {
    if (account.name == user) {
      unsigned char digest[SHA256_DIGEST_LENGTH];
      SHA256(reinterpret_cast<const unsigned char*>(pass.data()), pass.size(), digest);
      if (CRYPTO_memcmp(digest, account.secret_sha256.data(), sizeof digest) != 0) {
        return decision;
      }
      decision.result = AuthResult::kAllowed;
      decision.identity.role = account.role;
      decision.identity.account = account.name;
      return decision;
    }
  }

  auto credentials = alink::ParseConnect(client_id, user);
  if (!credentials) {
    return decision;
  }
  const auto device = directory_.Find(credentials->product_key, credentials->device_name);
  if (!device) {
    decision.result = AuthResult::kUnknownDevice;
    return decision;
  }
  if (!alink::VerifyPassword(*credentials, device->secret, pass)) {  // also the Node SDK's SHA-1
    return decision;
  }
  if (!device->enabled) {
    decision.result = AuthResult::kDisabled;
    return decision;
  }
  if (device->timestamp_window_s > 0) {
    // The signed timestamp (ms) must be within the product's window of now: a captured password stops
    // working after it. No timestamp at all is refused (it could never expire).
    const auto& ts = credentials->timestamp;
    std::int64_t sent = 0;
    const auto parsed = ts ? std::from_chars(ts->data(), ts->data() + ts->size(), sent)
                           : std::from_chars_result{nullptr, std::errc::invalid_argument};
    const std::int64_t window_ms = static_cast<std::int64_t>(device->timestamp_window_s) * 1000;
    if (!ts || parsed.ec != std::errc() || parsed.ptr != ts->data() + ts->size() ||
        sent < now_ms - window_ms || sent > now_ms + window_ms) {
      decision.result = AuthResult::kStaleTimestamp;
      return decision;
    }
  }
  decision.result = AuthResult::kAllowed;
  decision.identity.role = Role::kDevice;
  decision.identity.product_key = credentials->product_key;
  decision.identity.device_name = credentials->device_name;
  return decision;
}

Identity Authenticator::IdentityOf(const char* username) const {
  Identity identity;
  if (username == nullptr || *username == '\0') {
    return identity;  // anonymous: only authenticated with allow_anonymous
  }
  const std::string_view user(username);
  for (const auto& account : settings_.accounts) {
    if (account.name == user) {
      identity.role = account.role;
      identity.account = account.name;
      return identity;
    }
  }
  const auto amp = user.find('&');
  identity.role = Role::kDevice;
  if (amp != std::string_view::npos) {
    identity.device_name = std::string(user.substr(0, amp));
    identity.product_key = std::string(user.substr(amp + 1));
  }
  return identity;
}

bool IsDeviceUplink(std::string_view topic) {
  const auto parsed = alink::ParseTopic(topic);
  return !parsed || alink::IsDevicePublished(*parsed);
}

namespace {

// Custom topics and custom RRPC: a device both publishes and receives them.
bool IsTwoWay(std::string_view topic) {
  const auto parsed = alink::ParseTopic(topic);
  return parsed &&
         (parsed->kind == alink::TopicKind::kUserTopic || parsed->kind == alink::TopicKind::kExtRrpc);
}

}  // namespace

bool IsProductBroadcast(std::string_view topic, std::string_view product_key) {
  const std::string prefix = "/broadcast/" + std::string(product_key) + "/";
  if (!topic.starts_with(prefix) || topic.size() == prefix.size() || topic.size() > alink::kMaxTopicBytes ||
      topic.find('\0') != std::string_view::npos) {
    return false;
  }
  alink::TopicLevels levels(topic.substr(prefix.size()));
  std::string_view level;
  while (levels.Next(level)) {
    if (level.find_first_of("+#") != std::string_view::npos && level != "+" && level != "#") {
      return false;
    }
    if (level == "#" && !levels.Done()) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> RerouteRrpcAnswer(std::string_view topic, std::string_view product_key,
                                             std::string_view device_name) {
  if (!topic.starts_with("/ext/rrpc/")) {
    return std::nullopt;
  }
  return alink::RrpcReplyTopic(product_key, device_name, topic);
}

bool DeviceMaySubscribe(std::string_view filter, std::string_view product_key, std::string_view device_name) {
  const std::string base = "/sys/" + std::string(product_key) + "/" + std::string(device_name) + "/";
  if (filter.find_first_of("+#") == std::string_view::npos) {
    return !IsDeviceUplink(filter) || IsTwoWay(filter) ||
           filter == base + "thing/config/push_reply";  // Node SDK, every connect
  }
  const std::string user = "/" + std::string(product_key) + "/" + std::string(device_name) + "/user/";
  if (filter.starts_with(user) || filter.starts_with("/ext/rrpc/")) {
    return true;  // the caller checked the filter lies in the device's own space
  }
  if (!filter.starts_with(base)) {
    return false;
  }
  const auto rest = filter.substr(base.size());
  // Wildcards that match uplink topics too: READ never delivers those (AclAllows).
  return rest == "#" || rest == "thing/#" || rest == "thing/service/+" || rest == "thing/service/#" ||
         rest == "thing/event/+/post_reply" || rest == "rrpc/request/+";
}

bool AclAllows(const Identity& identity, std::string_view topic, Access access, bool retain) {
  switch (identity.role) {
    case Role::kDevice:
      switch (access) {
        case Access::kWrite:
          // Retained device messages would be replayed into the platform by the broker.
          if (retain) {
            return false;
          }
          if (topic.starts_with(alink::kRrpcReplyPrefix)) {  // a custom RRPC answer, once re-routed
            const auto answer = alink::ParseRrpcReplyTopic(topic);
            return answer && answer->product_key == identity.product_key &&
                   answer->device_name == identity.device_name;
          }
          return alink::DeviceMayPublish(topic, identity.product_key, identity.device_name) &&
                 IsDeviceUplink(topic);
        case Access::kRead:
          // Its own uplink would come back through its wildcards (the C SDK's thing/service/+ matches
          // its own thing/service/{id}_reply): never delivered. Custom topics are two-way.
          if (IsProductBroadcast(topic, identity.product_key)) {
            return true;
          }
          return alink::TopicBelongsToDevice(topic, identity.product_key, identity.device_name) &&
                 (!IsDeviceUplink(topic) || IsTwoWay(topic));
        case Access::kSubscribe:
          if (IsProductBroadcast(topic, identity.product_key)) {
            return true;
          }
          return alink::TopicBelongsToDevice(topic, identity.product_key, identity.device_name) &&
                 DeviceMaySubscribe(topic, identity.product_key, identity.device_name);
        case Access::kUnsubscribe: return true;
      }
      return false;
    case Role::kGateway:
    case Role::kApi: {
      const auto& patterns = PatternsFor(identity.role);
      switch (access) {
        case Access::kWrite: return !retain && AnyCovers(patterns.publish, topic);
        case Access::kRead: return AnyCovers(patterns.subscribe, topic);
        case Access::kSubscribe: {
          const auto filter = StripSharePrefix(topic);
          return !filter.empty() && AnyCovers(patterns.subscribe, filter);
        }
        case Access::kUnsubscribe: return true;
      }
      return false;
    }
    case Role::kAnonymous: return true;  // only reachable with allow_anonymous (development)
  }
  return false;
}

namespace {

// Index of the product-key level of a topic or filter whose levels are `levels`, where levels[s] is
// the level before its first '/' (empty for a topic that starts with '/'); the device name follows.
std::optional<std::size_t> DeviceLevelAt(const std::vector<std::string_view>& levels, std::size_t s,
                                         bool inner) {
  if (levels.size() <= s + 3) {
    return std::nullopt;
  }
  const auto a = levels[s + 1];
  const auto b = levels[s + 2];
  if (a == "sys") {
    return s + 2;
  }
  if (a == "ext") {
    if (b == "session" || b == "ntp" || b == "error") {
      return s + 3;
    }
    if (b == "rrpc" && !inner && levels.size() > s + 4) {
      // /ext/rrpc/{id}/<inner>: the inner topic usually has no leading '/', so the id level stands in
      // for its leading level.
      return DeviceLevelAt(levels, levels[s + 4].empty() ? s + 4 : s + 3, true);
    }
    return std::nullopt;
  }
  if (a == "shadow") {
    return s + 3;
  }
  if (a == "ota" && b == "device") {
    return s + 4;
  }
  if (levels[s + 3] == "user") {
    return s + 1;
  }
  return std::nullopt;
}

}  // namespace

std::optional<TopicDevice> DeviceOfTopic(std::string_view topic) {
  if (topic.starts_with(alink::kRrpcReplyPrefix)) {
    const auto answer = alink::ParseRrpcReplyTopic(topic);
    if (!answer) {
      return std::nullopt;
    }
    return TopicDevice{answer->product_key, answer->device_name};
  }
  auto parsed = alink::ParseTopic(topic);
  if (parsed && parsed->kind == alink::TopicKind::kExtRrpc) {
    const std::string inner = parsed->suffix.starts_with('/') ? parsed->suffix : "/" + parsed->suffix;
    parsed = alink::ParseTopic(inner);
    if (parsed && parsed->kind == alink::TopicKind::kExtRrpc) {
      return std::nullopt;
    }
  }
  if (!parsed || parsed->product_key.empty() || parsed->device_name.empty()) {
    return std::nullopt;
  }
  return TopicDevice{std::move(parsed->product_key), std::move(parsed->device_name)};
}

bool GatewayMaySubscribe(const Identity& gateway, std::string_view filter,
                         const std::function<bool(std::string_view, std::string_view)>& in_topology) {
  if (filter.size() > alink::kMaxTopicBytes || filter.find('\0') != std::string_view::npos) {
    return false;
  }
  std::vector<std::string_view> levels;
  alink::TopicLevels walker(filter);
  std::string_view level;
  while (walker.Next(level)) {
    if (levels.size() >= alink::kMaxTopicLevels) {
      return false;
    }
    levels.push_back(level);
  }
  if (levels.empty() || !levels[0].empty()) {
    return false;
  }
  const auto at = DeviceLevelAt(levels, 0, false);
  if (!at || *at + 1 >= levels.size()) {
    return false;
  }
  const auto pk = levels[*at];
  const auto dn = levels[*at + 1];
  const bool own = pk == gateway.product_key && dn == gateway.device_name;
  const bool any = pk == "+" && dn == "+";
  const bool concrete =
      pk.find_first_of("+#") == std::string_view::npos && dn.find_first_of("+#") == std::string_view::npos;
  if (!own && !any && !(concrete && in_topology(pk, dn))) {
    return false;
  }
  std::string own_filter;
  own_filter.reserve(filter.size() + gateway.product_key.size() + gateway.device_name.size());
  for (std::size_t i = 0; i < levels.size(); ++i) {
    if (i > 0) {
      own_filter += '/';
    }
    if (i == *at) {
      own_filter += gateway.product_key;
    } else if (i == *at + 1) {
      own_filter += gateway.device_name;
    } else {
      own_filter += levels[i];
    }
  }
  return AclAllows(gateway, own_filter, Access::kSubscribe, false);
}

}  // namespace iot::broker

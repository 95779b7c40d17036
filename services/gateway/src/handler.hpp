#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "alarms.hpp"
#include "directory.hpp"
#include "forwarding.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/shadow.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/log.hpp"
#include "iot/common/rate_limiter.hpp"
#include "iot/script/script.hpp"
#include "metrics.hpp"
#include "script_cache.hpp"
#include "work.hpp"

// Decodes and validates one MQTT message into Work (what to store, what else to do, what to answer).
// Pure with respect to I/O except the directory lookups: no database writes, no publishing.
namespace iot::gateway {

struct HandlerSettings {
  double rate_per_second = 100;          // per-device uplink limit; <= 0 disables
  std::size_t max_batch_samples = 1000;  // batch/history post: samples per message (6106 above)
  script::Limits script_limits;          // raw products' scripts, per call
  int script_budget_ms = 250;            // per product and worker: script CPU ms per second (0 = off)
  std::string public_base_url;  // base of the download links (configuration, firmware; "" = relative)
  // The enabled forwarding rules (forwarding.hpp); null or empty: nothing is routed, nothing costs.
  const ForwardRules* forward_rules = nullptr;
  // The enabled alarm rules (alarms.hpp); null or empty: nothing is evaluated.
  const AlarmRules* alarm_rules = nullptr;
};

namespace handler_detail {
class Context;
}

enum class HandleStatus {
  kWork,    // `out` holds the work (possibly only a reply)
  kIgnore,  // nothing to do (downlinks seen through the shared filter, unparsable lifecycle, ...)
  kRetry,   // the directory is unavailable (PostgreSQL away): call again later with the same message
};

// One per shard worker (owns that shard's rate limiter; not thread-safe).
class Handler {
 public:
  Handler(Directory& directory, Metrics& metrics, HandlerSettings settings);

  // `now_ms` is wall-clock epoch ms (validation of device times, NTP); the rate limiter uses it too.
  HandleStatus Handle(const InboundMessage& in, TimeMs now_ms, Work& out);

 private:
  using Context = handler_detail::Context;
  static constexpr std::string_view kLog = "gateway";

  // Handle dispatches each message to its family's handler, one file each in handlers/.
  // lifecycle.cpp: the broker plugin's online/offline messages.
  HandleStatus HandleLifecycle(const InboundMessage& in, Work& out);
  // requests.cpp (with the free functions of families.hpp): NTP, answered at once.
  HandleStatus HandleNtp(const InboundMessage& in, const alink::Topic& topic, TimeMs now_ms, Work& out);
  // device_replies.cpp: a device's answer to a downlink completes the service-call record.
  HandleStatus HandleDeviceReply(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out);
  HandleStatus CompleteCall(Context& c, const alink::Topic& topic, const alink::Reply& reply, TimeMs now_ms,
                            Work& out);
  // raw.cpp: raw products' bytes, converted by the product's script.
  HandleStatus HandleRawUp(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out);
  HandleStatus HandleRawDownReply(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out);
  // handlers/shadow.cpp: the device shadow (its own JSON, its own rate limit).
  HandleStatus HandleShadow(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out);
  // Handle without the count of messages left unanswered.
  HandleStatus HandleMessage(const InboundMessage& in, TimeMs now_ms, Work& out, bool& device_published);
  // user_topics.cpp (family function): a device's message on its custom topics, stored.
  HandleStatus HandleUserTopic(const InboundMessage& in, const alink::Topic& topic, TimeMs now_ms, Work& out);
  // A device request: decoded, its device looked up and admitted, then dispatched.
  HandleStatus HandleRequest(Context& c, const InboundMessage& in, TimeMs now_ms, Work& out);
  // Enabled and under the rate limit; otherwise answers (6204, 429) and returns false.
  bool Admit(Context& c, const DeviceEntry& device, const alink::Topic& topic, TimeMs now_ms);
  // config.cpp: a device's thing.config.push_reply, counted by code (nothing waits for it).
  HandleStatus ConsumeConfigPushReply(const alink::Reply& reply);
  // A device request whose device is known and admitted: checks the method and calls its family.
  HandleStatus Dispatch(Context& c, const alink::Topic& topic, const alink::Request& req, Work& out);

  Directory& directory_;
  Metrics& metrics_;
  HandlerSettings settings_;
  iot::DeviceRateLimiter limiter_;
  iot::DeviceRateLimiter shadow_limiter_;
  ScriptCache scripts_;
  log::RateLimiter noise_{std::chrono::seconds(5)};
};

}  // namespace iot::gateway

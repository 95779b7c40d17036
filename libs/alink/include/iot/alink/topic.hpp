#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "iot/common/result.hpp"

// The one topic grammar of the platform (reference §2.2): every MQTT topic a device, the broker
// plugin or the gateway deals with is parsed into a typed `Topic` here and formatted back here.
namespace iot::alink {

enum class TopicKind {
  // /sys/{pk}/{dn}/thing/... and /sys/{pk}/{dn}/_thing/...; every one also has a `_reply` form.
  kPropertyPost,         // thing/event/property/post
  kEventPost,            // thing/event/{identifier}/post
  kPropertySet,          // thing/service/property/set
  kPropertyGet,          // thing/service/property/get (legacy)
  kServiceCall,          // thing/service/{identifier}
  kPropertyHistoryPost,  // thing/event/property/history/post
  kPropertyPackPost,     // thing/event/property/pack/post
  kPropertyBatchPost,    // thing/event/property/batch/post
  kDesiredGet,           // thing/property/desired/get
  kDesiredDelete,        // thing/property/desired/delete
  kDeviceInfoUpdate,     // thing/deviceinfo/update
  kDeviceInfoDelete,     // thing/deviceinfo/delete
  kConfigGet,            // thing/config/get
  kConfigPush,           // thing/config/push
  kDslTemplateGet,       // thing/dsltemplate/get
  kDynamicTslGet,        // thing/dynamicTsl/get
  kLogPost,              // thing/log/post
  kOtaFirmwareGet,       // thing/ota/firmware/get
  kSubRegister,          // thing/sub/register
  kSubUnregister,        // thing/sub/unregister
  kTopoAdd,              // thing/topo/add
  kTopoDelete,           // thing/topo/delete
  kTopoGet,              // thing/topo/get
  kListFound,            // thing/list/found
  kTopoAddNotify,        // thing/topo/add/notify
  kTopoChange,           // thing/topo/change
  kDisable,              // thing/disable
  kEnable,               // thing/enable
  kDelete,               // thing/delete
  kModelUpRaw,           // thing/model/up_raw
  kModelDownRaw,         // thing/model/down_raw
  kDiagPost,             // _thing/diag/post
  kSysUnknown,           // any other /sys/{pk}/{dn}/...; `suffix` holds the rest (without _reply)
  // /sys/{pk}/{dn}/rrpc/{request|response}/{message_id}
  kRrpcRequest,
  kRrpcResponse,
  // /ext/...
  kNtpRequest,          // /ext/ntp/{pk}/{dn}/request
  kNtpResponse,         // /ext/ntp/{pk}/{dn}/response
  kSessionLogin,        // /ext/session/{pk}/{dn}/combine/login (+_reply)
  kSessionLogout,       // .../combine/logout (+_reply)
  kSessionBatchLogin,   // .../combine/batch_login (+_reply)
  kSessionBatchLogout,  // .../combine/batch_logout (+_reply)
  kExtError,            // /ext/error/{pk}/{dn}
  kExtRrpc,             // /ext/rrpc/{message_id}/{suffix...}; the reply uses the same topic
  kExtRegister,         // /ext/register (dynamic registration result)
  kExtRegisterNwl,      // /ext/regnwl
  // Device shadow and OTA (not Alink envelopes).
  kShadowUpdate,  // /shadow/update/{pk}/{dn}
  kShadowGet,     // /shadow/get/{pk}/{dn}
  kOtaInform,     // /ota/device/inform/{pk}/{dn}
  kOtaUpgrade,    // /ota/device/upgrade/{pk}/{dn}
  kOtaProgress,   // /ota/device/progress/{pk}/{dn}
  kOtaRequest,    // /ota/device/request/{pk}/{dn} (E1)
  // Platform-internal and custom.
  kMqttStatus,  // /as/mqtt/status/{pk}/{dn} (lifecycle, produced by the broker plugin)
  kUserTopic,   // /{pk}/{dn}/user/{suffix...}
};

inline constexpr std::size_t kMaxTopicBytes = 1024;  // sanity bound; Aliyun itself allows 128
inline constexpr std::size_t kMaxTopicLevels = 64;   // '/'-separated levels; Aliyun allows 8

// Walks the '/'-separated levels of a topic name or filter, left to right, without copying: "a//b" has
// the levels "a", "" and "b"; "" has one empty level. The one level splitter of the parser, the device
// ACL and the broker plugin's filter algebra.
class TopicLevels {
 public:
  explicit TopicLevels(std::string_view text) noexcept : rest_(text) {}

  // The next level; false when every level was taken.
  bool Next(std::string_view& level) noexcept {
    if (done_) {
      return false;
    }
    const auto slash = rest_.find('/');
    if (slash == std::string_view::npos) {
      level = rest_;
      done_ = true;
    } else {
      level = rest_.substr(0, slash);
      rest_.remove_prefix(slash + 1);
    }
    return true;
  }

  bool Done() const noexcept { return done_; }

  // Everything not taken yet (only meaningful when !Done()).
  std::string_view Rest() const noexcept { return done_ ? std::string_view{} : rest_; }

 private:
  std::string_view rest_;
  bool done_ = false;
};

struct Topic {
  TopicKind kind = TopicKind::kSysUnknown;
  std::string product_key;
  std::string device_name;
  std::string identifier;  // kEventPost, kServiceCall; may carry a "module:" prefix
  std::string message_id;  // kRrpcRequest, kRrpcResponse, kExtRrpc
  // kUserTopic: text after "/user/"; kExtRrpc: text after "/ext/rrpc/{message_id}/" (the inner topic,
  // usually without its leading '/'); kSysUnknown: text after "/sys/{pk}/{dn}/" minus "_reply".
  std::string suffix;
  bool reply = false;  // the `_reply` form (only kinds where HasReplyForm() is true)

  friend bool operator==(const Topic&, const Topic&) = default;
};

// Parses a concrete topic name (no wildcards). Topics outside the grammar give
// Errc::kTopicNotRecognized; malformed product keys, device names or message ids give
// Errc::kInvalidTopicSegment; more than kMaxTopicLevels levels is kTopicNotRecognized. Unknown
// /sys/{pk}/{dn}/... topics parse as kSysUnknown. For every topic t that parses, FormatTopic(*ParseTopic(t))
// == t.
Result<Topic> ParseTopic(std::string_view topic);

// Formats any Topic; fields a kind does not use are ignored. Does not validate.
std::string FormatTopic(const Topic& topic);

// Stable lower-case name of a kind for logs and metrics, e.g. "property_post".
std::string_view TopicKindName(TopicKind kind) noexcept;

// True for the kinds whose topics have a `_reply` twin (all /sys thing topics and combine/*).
bool HasReplyForm(TopicKind kind) noexcept;

// The topic the answer to `request` goes to: `_reply` for Alink topics, rrpc/response/{id} for
// rrpc/request/{id}, ntp response, the same topic for /ext/rrpc, /shadow/get for /shadow/update.
// Errc::kNoReplyTopic for kinds that are not answered (and for topics that already are replies).
Result<Topic> ReplyTopicFor(const Topic& request);

// The Alink `method` that belongs to a topic, e.g. "thing.event.property.post" or
// "thing.event.{id}.post"; empty when the kind carries no method (raw, OTA, NTP, shadow, custom,
// RRPC whose method depends on the payload).
std::string ExpectedMethod(const Topic& topic);

// Checks a payload's method against its topic without allocating. An empty method is accepted
// (Node SDK sends "" for combine.login and the topic decides the meaning); a different method gives
// Errc::kMethodMismatch (6300). kSysUnknown always gives Errc::kUnknownSysTopic (6300): the gateway
// answers "method not supported". rrpc/request accepts any "thing.service.{id}".
Result<void> CheckMethod(const Topic& topic, std::string_view method);

// True when a device (not the cloud) is the publisher of this topic: uplink requests and the
// device's replies to downlink requests.
bool IsDevicePublished(const Topic& topic) noexcept;

// Segment rules. Product key: 4-32 ASCII letters or digits (Aliyun issues 11). Device name: 4-32 of
// letters, digits and `-_@.:` (RegisterDevice rules). Identifier: 1-128 of letters, digits, `_`, with
// `:` allowed for the custom-module prefix "{functionBlockId}:{identifier}". Message id: 1-64 of
// letters, digits, `-`, `_`.
bool IsValidProductKey(std::string_view pk) noexcept;
bool IsValidDeviceName(std::string_view dn) noexcept;
bool IsValidIdentifier(std::string_view id) noexcept;
bool IsValidMessageId(std::string_view id) noexcept;

// Broker ACL: true when every topic that `topic_or_filter` can match lies in the topic space of the
// device {pk}/{dn}: /sys/{pk}/{dn}/..., /ext/ntp/{pk}/{dn}/..., /ext/session/{pk}/{dn}/...,
// /ext/error/{pk}/{dn}, /shadow/{op}/{pk}/{dn}, /ota/device/{op}/{pk}/{dn}, /{pk}/{dn}/user/...,
// and /ext/rrpc/{id}/ followed by one of those. Wildcards (`+`, trailing `#`) are allowed only
// below the device's prefix, so `#`, `/sys/+/...`, `$SYS/...` and `/as/...` are refused.
// Malformed filters (`a#`, `#/x`, NUL, over kMaxTopicBytes or kMaxTopicLevels) are refused.
bool TopicBelongsToDevice(std::string_view topic_or_filter, std::string_view pk,
                          std::string_view dn) noexcept;

// Publish check: a concrete topic name (no wildcards) that belongs to the device.
bool DeviceMayPublish(std::string_view topic, std::string_view pk, std::string_view dn) noexcept;

}  // namespace iot::alink

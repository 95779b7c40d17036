#pragma once

#include <system_error>
#include <type_traits>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

namespace iot::alink {

// Every way an alink decoder can refuse input. Each value maps to one Alink code (AlinkCode) so the
// gateway can answer a device without a second lookup table.
enum class Errc {
  kTopicNotRecognized = 1,  // 6203: not a topic of the Alink grammar
  kInvalidTopicSegment,     // 6203: product key / device name / identifier / message id malformed
  kNoReplyTopic,            // 6203: the topic kind has no reply topic
  kUnknownSysTopic,         // 6300: /sys/{pk}/{dn}/... that we do not support ("method not supported")
  kMethodMismatch,          // 6300: payload method does not belong to the topic
  kNotJson,                 // 6207: payload is not JSON (includes invalid UTF-8)
  kNotObject,               // 6207: top level is not a JSON object
  kTooDeep,                 // 460: nesting deeper than kMaxJsonDepth
  kPayloadTooLarge,         // 460: more than kMaxPayloadBytes (MQTT publish limit on Aliyun)
  kMissingField,            // 460: a required key (id, code, ...) is absent
  kBadFieldType,            // 460: a key has the wrong JSON type or an impossible value
  kBadClientId,             // 460: MQTT clientId not `<id>|k=v,...|`
  kBadUsername,             // 460: MQTT username not `{dn}&{pk}` with valid segments
  kUnsupportedSignMethod,   // 6292: signmethod other than hmacmd5/hmacsha1/hmacsha256
  kBadSignature,            // 401: password / sign does not match
};

const boost::system::error_category& AlinkCategory() noexcept;

// Found by ADL; makes `Result<T> r = Errc::kNotJson;` work.
boost::system::error_code make_error_code(Errc e) noexcept;  // NOLINT(readability-identifier-naming)

// The Alink result code for an error: 200 for no error, the table above for alink errors, 500 for
// errors of any other category.
int AlinkCode(const boost::system::error_code& ec) noexcept;
int AlinkCode(const std::error_code& ec) noexcept;
int AlinkCode(Errc e) noexcept;

}  // namespace iot::alink

template <>
struct boost::system::is_error_code_enum<iot::alink::Errc> : std::true_type {};

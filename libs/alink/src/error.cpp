#include "iot/alink/error.hpp"

#include <string>

#include "iot/common/codes.hpp"
#include "iot/common/error_category.hpp"

namespace iot::alink {

const boost::system::error_category& AlinkCategory() noexcept {
  static const TableCategory kCategory(
      "iot.alink",
      std::array{std::pair{Errc::kTopicNotRecognized, "topic not recognized"},
                 std::pair{Errc::kInvalidTopicSegment, "invalid topic segment"},
                 std::pair{Errc::kNoReplyTopic, "topic has no reply topic"},
                 std::pair{Errc::kUnknownSysTopic, "unsupported /sys topic"},
                 std::pair{Errc::kMethodMismatch, "method does not match topic"},
                 std::pair{Errc::kNotJson, "payload is not valid JSON"},
                 std::pair{Errc::kNotObject, "payload is not a JSON object"},
                 std::pair{Errc::kTooDeep, "JSON nested deeper than 64"},  // iot::JsonTooDeepMessage()
                 std::pair{Errc::kPayloadTooLarge, "payload too large"},
                 std::pair{Errc::kMissingField, "required field missing"},
                 std::pair{Errc::kBadFieldType, "field has wrong type or value"},
                 std::pair{Errc::kBadClientId, "malformed MQTT client id"},
                 std::pair{Errc::kBadUsername, "malformed MQTT username"},
                 std::pair{Errc::kUnsupportedSignMethod, "unsupported sign method"},
                 std::pair{Errc::kBadSignature, "signature mismatch"}},
      "unknown alink error");
  return kCategory;
}

boost::system::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), AlinkCategory()}; }

int AlinkCode(Errc e) noexcept {
  switch (e) {
    case Errc::kTopicNotRecognized:
    case Errc::kInvalidTopicSegment:
    case Errc::kNoReplyTopic: return codes::kTopicParseFailed;
    case Errc::kUnknownSysTopic:
    case Errc::kMethodMismatch: return codes::kMethodMismatch;
    case Errc::kNotJson:
    case Errc::kNotObject: return codes::kNotJson;
    case Errc::kTooDeep:
    case Errc::kPayloadTooLarge:
    case Errc::kMissingField:
    case Errc::kBadFieldType:
    case Errc::kBadClientId:
    case Errc::kBadUsername: return codes::kParamError;
    case Errc::kUnsupportedSignMethod: return codes::kSignMethodNotSupported;
    case Errc::kBadSignature: return codes::kSignatureInvalid;
  }
  return codes::kSystemError;
}

int AlinkCode(const boost::system::error_code& ec) noexcept {
  if (!ec) {
    return codes::kSuccess;
  }
  if (ec.category() == AlinkCategory()) {
    return AlinkCode(static_cast<Errc>(ec.value()));
  }
  return codes::kSystemError;
}

int AlinkCode(const std::error_code& ec) noexcept {
  if (!ec) {
    return codes::kSuccess;
  }
  // A boost code converted to std::error_code keeps a std view of our category.
  if (ec.category() == static_cast<const std::error_category&>(AlinkCategory())) {
    return AlinkCode(static_cast<Errc>(ec.value()));
  }
  return AlinkCode(boost::system::error_code(ec));
}

}  // namespace iot::alink

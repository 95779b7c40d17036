#include "iot/alink/error.hpp"

#include <string>

#include "iot/common/codes.hpp"

namespace iot::alink {
namespace {

class AlinkErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "iot.alink"; }

  std::string message(int ev) const override { return Describe(static_cast<Errc>(ev)); }

  char const* message(int ev, char* /*buffer*/, std::size_t /*len*/) const noexcept override {
    return Describe(static_cast<Errc>(ev));
  }

 private:
  static const char* Describe(Errc e) noexcept {
    switch (e) {
      case Errc::kTopicNotRecognized: return "topic not recognized";
      case Errc::kInvalidTopicSegment: return "invalid topic segment";
      case Errc::kNoReplyTopic: return "topic has no reply topic";
      case Errc::kUnknownSysTopic: return "unsupported /sys topic";
      case Errc::kMethodMismatch: return "method does not match topic";
      case Errc::kNotJson: return "payload is not valid JSON";
      case Errc::kNotObject: return "payload is not a JSON object";
      case Errc::kTooDeep: return "JSON nested deeper than 64";  // iot::JsonTooDeepMessage()
      case Errc::kPayloadTooLarge: return "payload too large";
      case Errc::kMissingField: return "required field missing";
      case Errc::kBadFieldType: return "field has wrong type or value";
      case Errc::kBadClientId: return "malformed MQTT client id";
      case Errc::kBadUsername: return "malformed MQTT username";
      case Errc::kUnsupportedSignMethod: return "unsupported sign method";
      case Errc::kBadSignature: return "signature mismatch";
    }
    return "unknown alink error";
  }
};

}  // namespace

const boost::system::error_category& AlinkCategory() noexcept {
  static const AlinkErrorCategory category;
  return category;
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

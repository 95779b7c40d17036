#include "iot/alink/error.hpp"

#include <system_error>

#include <boost/system/error_code.hpp>
#include <catch2/catch.hpp>

#include "iot/common/codes.hpp"
#include "iot/common/result.hpp"

namespace alink = iot::alink;

TEST_CASE("Errc: each error maps to its Alink code", "[alink][error]") {
  CHECK(alink::AlinkCode(alink::Errc::kTopicNotRecognized) == 6203);
  CHECK(alink::AlinkCode(alink::Errc::kInvalidTopicSegment) == 6203);
  CHECK(alink::AlinkCode(alink::Errc::kUnknownSysTopic) == 6300);
  CHECK(alink::AlinkCode(alink::Errc::kMethodMismatch) == 6300);
  CHECK(alink::AlinkCode(alink::Errc::kNotJson) == 6207);
  CHECK(alink::AlinkCode(alink::Errc::kTooDeep) == 460);
  CHECK(alink::AlinkCode(alink::Errc::kPayloadTooLarge) == 460);
  CHECK(alink::AlinkCode(alink::Errc::kMissingField) == 460);
  CHECK(alink::AlinkCode(alink::Errc::kUnsupportedSignMethod) == 6292);
  CHECK(alink::AlinkCode(alink::Errc::kBadSignature) == 401);
}

TEST_CASE("Errc: composes with boost and std error codes", "[alink][error]") {
  const boost::system::error_code ec = alink::Errc::kNotJson;
  CHECK(ec.category().name() == std::string("iot.alink"));
  CHECK(ec.message() == "payload is not valid JSON");
  CHECK(alink::AlinkCode(ec) == 6207);
  const std::error_code std_ec = ec;
  CHECK(alink::AlinkCode(std_ec) == 6207);
  CHECK(alink::AlinkCode(boost::system::error_code{}) == 200);
  CHECK(alink::AlinkCode(std::error_code{}) == 200);
  CHECK(alink::AlinkCode(std::make_error_code(std::errc::io_error)) == 500);
  CHECK(alink::AlinkCode(make_error_code(boost::system::errc::io_error)) == 500);

  const iot::Result<int> r = alink::Errc::kBadSignature;
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == alink::Errc::kBadSignature);
}

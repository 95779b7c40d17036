#include "http/problem.hpp"

#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

TEST_CASE("Problem: ToResponse writes RFC 9457 members in one shape", "[api][problem]") {
  auto error = iot::api::ApiError::BadRequest(
      "2 problems", {{"/name", 0, "is required"}, {"/params/temp", 6306, "must be an int"}});
  auto response = iot::api::ToResponse(error);
  CHECK(response.status == 400);
  CHECK(response.content_type == "application/problem+json");
  auto body = nlohmann::json::parse(response.body);
  CHECK(body["type"] == "about:blank");
  CHECK(body["title"] == "Bad Request");
  CHECK(body["status"] == 400);
  CHECK(body["detail"] == "2 problems");
  REQUIRE(body["errors"].size() == 2);
  CHECK(body["errors"][1] ==
        nlohmann::json{{"path", "/params/temp"}, {"code", 6306}, {"message", "must be an int"}});
  CHECK(response.body.rfind(R"({"type":)", 0) == 0);  // members in RFC order
}

TEST_CASE("Problem: extra members (serviceCall) and headers are carried", "[api][problem]") {
  auto error = iot::api::ApiError::GatewayTimeout("device did not answer");
  error.extra_members.emplace_back("serviceCall", R"({"callId":"c1","status":"timeout"})");
  auto body = nlohmann::json::parse(iot::api::ToResponse(error).body);
  CHECK(body["status"] == 504);
  CHECK(body["serviceCall"]["status"] == "timeout");

  auto unauthorized = iot::api::ToResponse(iot::api::ApiError::Unauthorized("missing"));
  REQUIRE(unauthorized.headers.size() == 1);
  CHECK(unauthorized.headers[0].first == "WWW-Authenticate");
}

TEST_CASE("Problem: invalid UTF-8 in a detail does not throw", "[api][problem]") {
  auto response = iot::api::ToResponse(iot::api::ApiError::NotFound("no such thing: \xff\xfe"));
  CHECK(response.status == 404);
  CHECK(nlohmann::json::accept(response.body));
}

TEST_CASE("Problem: FromErrorCode maps timeouts to 504, unavailability to 503, rest to 500",
          "[api][problem]") {
  namespace errc = boost::system::errc;
  CHECK(iot::api::FromErrorCode(errc::make_error_code(errc::timed_out)).status == 504);
  CHECK(iot::api::FromErrorCode(errc::make_error_code(errc::connection_refused)).status == 503);
  auto other = iot::api::FromErrorCode(errc::make_error_code(errc::no_such_file_or_directory));
  CHECK(other.status == 500);
  CHECK(other.detail == "internal error");
}

TEST_CASE("FromAuthResult: only an unknown token is 401 - busy is 503 and limited 429, with Retry-After",
          "[api][problem]") {
  using Status = iot::api::AuthResult::Status;
  CHECK(iot::api::FromAuthResult(iot::api::AuthResult::Failed(Status::kUnknown)).status == 401);
  auto busy = iot::api::FromAuthResult(iot::api::AuthResult::Failed(Status::kUnavailable));
  CHECK(busy.status == 503);
  REQUIRE(busy.headers.size() == 1);
  CHECK(busy.headers[0] == std::pair<std::string, std::string>{"Retry-After", "1"});
  auto limited = iot::api::FromAuthResult(iot::api::AuthResult::Failed(Status::kLimited));
  CHECK(limited.status == 429);
  CHECK(limited.headers.at(0).first == "Retry-After");
}

TEST_CASE("Problem: the device shadow's refusals map to 409, 500 or 400 with the shadow's code",
          "[api][problem]") {
  CHECK(iot::api::ToResponse(iot::api::FromShadowError(409, "version 2 is not greater")).status == 409);
  CHECK(iot::api::ToResponse(iot::api::FromShadowError(500, "failed")).status == 500);
  auto body = nlohmann::json::parse(iot::api::ToResponse(iot::api::FromShadowError(408, "too many")).body);
  CHECK(body["status"] == 400);
  CHECK(body["errors"][0] ==
        nlohmann::json{{"path", "/state/desired"}, {"code", 408}, {"message", "too many"}});
}

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/system/error_code.hpp>

#include "http/auth.hpp"
#include "http/request.hpp"

namespace iot::api {

// One problem with the request body (RFC 9457 `errors[]` member).
struct ErrorItem {
  std::string path;  // JSON pointer into the request body ("" for the whole body)
  int code = 0;      // Alink code where one applies (iot/common/codes.hpp), else 0
  std::string message;
};

// Every error a handler reports. Thrown (or passed to Respond via ToResponse) and turned into
// application/problem+json in exactly one place: ToResponse().
struct ApiError {
  int status = 500;
  std::string title;  // empty: the standard reason phrase for `status`
  std::string detail;
  std::vector<ErrorItem> errors;
  // Extra top-level members as (name, serialized JSON value), e.g. {"serviceCall", "{...}"}.
  std::vector<std::pair<std::string, std::string>> extra_members;
  // Extra response headers, e.g. Allow for 405, Retry-After for 429/503.
  std::vector<std::pair<std::string, std::string>> headers;

  static ApiError BadRequest(std::string detail, std::vector<ErrorItem> errors = {});
  static ApiError Unauthorized(std::string detail);
  static ApiError Forbidden(std::string detail);
  static ApiError NotFound(std::string detail);
  static ApiError MethodNotAllowed(std::vector<std::string> allowed);
  static ApiError Conflict(std::string detail);
  static ApiError PayloadTooLarge(std::string detail);
  static ApiError UnsupportedMediaType(std::string detail);
  static ApiError TooManyRequests(std::string detail);
  static ApiError Internal(std::string detail);
  static ApiError Unavailable(std::string detail);
  static ApiError GatewayTimeout(std::string detail);
};

// The single mapping from an error to an HTTP response:
// {"type","title","status","detail","errors":[{"path","code","message"}], ...extra members}.
Response ToResponse(const ApiError& error);

// The single mapping from library and domain error codes (store::Errc, ControlErrc, Asio, ...) to an
// ApiError. Unknown codes become 500 with a generic detail (the code is logged by the caller, never
// shown to clients).
ApiError FromErrorCode(const boost::system::error_code& ec);
// A streamed request body that ended early (http/body_stream.hpp): over the limit 413, no byte within
// the read timeout 408, a broken or malformed body 400.
ApiError FromBodyError(const boost::system::error_code& ec, std::uint64_t limit);

// The device shadow's refusal (its errorcode, iot/alink/shadow.hpp) as an ApiError: 409 version
// conflict, 500 server error, 400 for the rest (the code and message in `errors`).
ApiError FromShadowError(int code, std::string message);

// The single mapping from a failed token lookup to an ApiError: kUnknown 401, kLimited 429 and
// kUnavailable 503, both with Retry-After (clients must not treat those as "signed out").
ApiError FromAuthResult(const AuthResult& result);

// Standard reason phrase ("Not Found"), or "Error" for unknown statuses.
std::string_view ReasonPhrase(int status);

// A JSON response with the given status and serialized body.
Response JsonResponse(int status, std::string body);

}  // namespace iot::api

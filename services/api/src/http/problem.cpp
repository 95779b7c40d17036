#include "http/problem.hpp"

#include <boost/system/errc.hpp>
#include <nlohmann/json.hpp>

#include "control/outcome.hpp"
#include "http/url_problem.hpp"
#include "iot/store/errors.hpp"

namespace iot::api {
namespace {

ApiError Make(int status, std::string detail) {
  ApiError e;
  e.status = status;
  e.detail = std::move(detail);
  return e;
}

}  // namespace

ApiError ApiError::BadRequest(std::string detail, std::vector<ErrorItem> errors) {
  ApiError e = Make(400, std::move(detail));
  e.errors = std::move(errors);
  return e;
}
ApiError ApiError::Unauthorized(std::string detail) {
  ApiError e = Make(401, std::move(detail));
  e.headers.emplace_back("WWW-Authenticate", "Bearer");
  return e;
}
ApiError ApiError::Forbidden(std::string detail) { return Make(403, std::move(detail)); }
ApiError ApiError::NotFound(std::string detail) { return Make(404, std::move(detail)); }
ApiError ApiError::MethodNotAllowed(std::vector<std::string> allowed) {
  std::string allow;
  for (const auto& m : allowed) {
    allow += allow.empty() ? "" : ", ";
    allow += m;
  }
  ApiError e = Make(405, "allowed methods: " + allow);
  e.headers.emplace_back("Allow", allow);
  return e;
}
ApiError ApiError::Conflict(std::string detail) { return Make(409, std::move(detail)); }
ApiError ApiError::PayloadTooLarge(std::string detail) { return Make(413, std::move(detail)); }
ApiError ApiError::UnsupportedMediaType(std::string detail) { return Make(415, std::move(detail)); }
ApiError ApiError::TooManyRequests(std::string detail) { return Make(429, std::move(detail)); }
ApiError ApiError::Internal(std::string detail) { return Make(500, std::move(detail)); }
ApiError ApiError::Unavailable(std::string detail) { return Make(503, std::move(detail)); }
ApiError ApiError::GatewayTimeout(std::string detail) { return Make(504, std::move(detail)); }

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
  }
}

Response ToResponse(const ApiError& error) {
  nlohmann::ordered_json body = nlohmann::ordered_json::object();  // members in RFC 9457 order
  body["type"] = "about:blank";  // RFC 9457 §4.2: the status code says it all
  body["title"] = error.title.empty() ? std::string(ReasonPhrase(error.status)) : error.title;
  body["status"] = error.status;
  body["detail"] = error.detail;
  nlohmann::ordered_json items = nlohmann::ordered_json::array();
  for (const auto& item : error.errors) {
    items.push_back({{"path", item.path}, {"code", item.code}, {"message", item.message}});
  }
  body["errors"] = std::move(items);
  for (const auto& [name, value] : error.extra_members) {
    auto parsed = nlohmann::ordered_json::parse(value, nullptr, /*allow_exceptions=*/false);
    body[name] = parsed.is_discarded() ? nlohmann::ordered_json(value) : std::move(parsed);
  }
  Response response;
  response.status = error.status;
  response.content_type = "application/problem+json";
  // Replace invalid UTF-8 (e.g. echoed from a request) rather than throw.
  response.body = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  response.headers = error.headers;
  return response;
}

ApiError FromAuthResult(const AuthResult& result) {
  switch (result.status) {
    case AuthResult::Status::kOk:
    case AuthResult::Status::kUnknown: break;
    case AuthResult::Status::kUnavailable: {
      ApiError error = ApiError::Unavailable("token check unavailable (database busy or away): retry");
      error.headers.emplace_back("Retry-After", "1");
      return error;
    }
    case AuthResult::Status::kLimited: {
      ApiError error = ApiError::TooManyRequests("too many failed authentications from this address");
      error.headers.emplace_back("Retry-After", "10");
      return error;
    }
  }
  return ApiError::Unauthorized("unknown, revoked or expired token");
}

ApiError FromShadowError(int code, std::string message) {
  switch (code) {
    case 409: return ApiError::Conflict(std::move(message));
    case 500: return ApiError::Internal(std::move(message));
    default: break;
  }
  ErrorItem item{"/state/desired", code, message};
  return ApiError::BadRequest(std::move(message), {std::move(item)});
}

ApiError FromUrlCheck(UrlCheck check) {
  if (check == UrlCheck::kExpired) {
    return Make(410, "this download link has expired: ask for a new one");
  }
  return ApiError::Forbidden("missing or invalid download link signature");
}

ApiError FromBodyError(const boost::system::error_code& ec, std::uint64_t limit) {
  namespace errc = boost::system::errc;
  if (ec == errc::file_too_large) {
    return ApiError::PayloadTooLarge("request body exceeds " + std::to_string(limit) + " bytes");
  }
  if (ec == errc::timed_out) {
    return Make(408, "the request body stopped arriving");
  }
  return ApiError::BadRequest("the request body ended early or was malformed");
}

ApiError FromErrorCode(const boost::system::error_code& ec) {
  namespace errc = boost::system::errc;
  // Library Errc enums (store::Errc, ...) are mapped here as they appear, each by its category, so
  // the mapping stays in one place.
  if (ec.category() == store::ErrorCategory()) {
    switch (static_cast<store::Errc>(ec.value())) {
      case store::Errc::kNotFound: return ApiError::NotFound("no such resource");
      case store::Errc::kConflict: return ApiError::Conflict("conflict with the current state");
      case store::Errc::kInvalid: return ApiError::BadRequest("invalid input");
      case store::Errc::kUnavailable: {
        ApiError e = ApiError::Unavailable("the database is unavailable, retry later");
        e.headers.emplace_back("Retry-After", "1");
        return e;
      }
      case store::Errc::kVersionMismatch: return ApiError::Conflict("version mismatch");
      case store::Errc::kOk:
      case store::Errc::kInternal: break;
    }
    return ApiError::Internal("internal error");
  }
  if (ec.category() == ControlErrorCategory()) {
    switch (static_cast<ControlErrc>(ec.value())) {
      case ControlErrc::kInvalidParams: return ApiError::BadRequest("invalid parameters");
      case ControlErrc::kQueueFull: {
        ApiError e = ApiError::TooManyRequests("the device's command queue is full");
        e.headers.emplace_back("Retry-After", "1");
        return e;
      }
      case ControlErrc::kRawSync: return ApiError::Conflict("not available for raw products");
      case ControlErrc::kShuttingDown: return ApiError::Unavailable("the API is shutting down");
      case ControlErrc::kBrokerDown: {
        ApiError e = ApiError::Unavailable("the broker is not reachable, retry later");
        e.headers.emplace_back("Retry-After", "1");
        return e;
      }
      case ControlErrc::kDbQueueFull: return ApiError::Unavailable("the database queue is full");
      case ControlErrc::kDeviceTimeout: return ApiError::GatewayTimeout("the device did not answer");
      case ControlErrc::kDeviceOffline: return ApiError::Conflict("the device is offline");
      case ControlErrc::kBroadcastRate: {
        ApiError e = ApiError::TooManyRequests("too many broadcasts for this product, retry later");
        e.headers.emplace_back("Retry-After", "1");
        return e;
      }
      case ControlErrc::kOk:
      case ControlErrc::kInternal: break;
    }
    return ApiError::Internal("internal error");
  }
  // Generic conditions:
  if (ec == errc::timed_out) {
    return ApiError::GatewayTimeout("the operation timed out");
  }
  if (ec == errc::connection_refused || ec == errc::not_connected ||
      ec == errc::resource_unavailable_try_again) {
    return ApiError::Unavailable("a dependency is unavailable");
  }
  return ApiError::Internal("internal error");
}

Response JsonResponse(int status, std::string body) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

}  // namespace iot::api

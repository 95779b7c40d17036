#include "http/router.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>

#include "http/problem.hpp"
#include "iot/common/log.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLogComponent = "api.router";

int Rank(bool literal, bool has_verb) { return literal ? 2 : (has_verb ? 1 : 0); }

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, RouteOptions options, Handler handler) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern must start with '/': " + std::string(pattern));
  }
  Route route{std::string(method), std::string(pattern), {}, std::move(options), std::move(handler)};
  std::string_view rest = pattern.substr(1);
  while (!rest.empty()) {
    const auto slash = rest.find('/');
    std::string_view text = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (text.empty()) {
      throw std::invalid_argument("empty segment in route pattern " + std::string(pattern));
    }
    Segment segment{Segment::Kind::kLiteral, std::string(text), ""};
    if (text.front() == '{') {
      const auto close = text.find('}');
      std::string_view tail = close == std::string_view::npos ? "" : text.substr(close + 1);
      if (close == std::string_view::npos || close == 1 ||
          (!tail.empty() && (tail.front() != ':' || tail.size() < 2))) {
        throw std::invalid_argument("bad parameter segment in route pattern " + std::string(pattern));
      }
      segment = {Segment::Kind::kParam, std::string(text.substr(1, close - 1)),
                 tail.empty() ? "" : std::string(tail.substr(1))};
    } else if (text.find_first_of("{}") != std::string_view::npos) {
      throw std::invalid_argument("braces inside a literal segment in " + std::string(pattern));
    }
    route.segments.push_back(std::move(segment));
  }
  for (const auto& existing : routes_) {
    if (existing.method == route.method && existing.pattern == route.pattern) {
      throw std::invalid_argument("duplicate route " + route.method + " " + route.pattern);
    }
  }
  routes_.push_back(std::move(route));
}

bool Router::MatchRoute(const Route& route, const std::vector<std::string>& segments,
                        std::vector<std::pair<std::string, std::string>>* params) {
  if (route.segments.size() != segments.size()) {
    return false;
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const Segment& want = route.segments[i];
    const std::string& got = segments[i];
    if (want.kind == Segment::Kind::kLiteral) {
      if (got != want.text) {
        return false;
      }
      continue;
    }
    std::string_view value = got;
    if (!want.verb.empty()) {
      const std::string suffix = ":" + want.verb;
      if (value.size() <= suffix.size() || !value.ends_with(suffix)) {
        return false;
      }
      value.remove_suffix(suffix.size());
    }
    if (value.empty()) {
      return false;
    }
    if (params != nullptr) {
      params->emplace_back(want.text, std::string(value));
    }
  }
  return true;
}

bool Router::MoreSpecific(const Route& a, const Route& b) {
  for (std::size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
    const Segment& sa = a.segments[i];
    const Segment& sb = b.segments[i];
    const int ra = Rank(sa.kind == Segment::Kind::kLiteral, !sa.verb.empty());
    const int rb = Rank(sb.kind == Segment::Kind::kLiteral, !sb.verb.empty());
    if (ra != rb) {
      return ra > rb;
    }
  }
  return false;
}

const Router::Route* Router::Find(std::string_view method, const std::vector<std::string>& segments,
                                  std::vector<std::pair<std::string, std::string>>& params,
                                  std::vector<std::string>* allowed_methods) const {
  const Route* best = nullptr;
  for (const auto& route : routes_) {
    if (!MatchRoute(route, segments, nullptr)) {
      continue;
    }
    if (route.method != method) {
      if (allowed_methods != nullptr && std::find(allowed_methods->begin(), allowed_methods->end(),
                                                  route.method) == allowed_methods->end()) {
        allowed_methods->push_back(route.method);
      }
      continue;
    }
    if (best == nullptr || MoreSpecific(route, *best)) {
      best = &route;
    }
  }
  if (best != nullptr) {
    MatchRoute(*best, segments, &params);
  } else if (allowed_methods != nullptr) {
    std::sort(allowed_methods->begin(), allowed_methods->end());
  }
  return best;
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(routes_.size());
  for (const auto& route : routes_) {
    out.emplace_back(route.method, route.pattern);
  }
  return out;
}

std::optional<Router::MatchResult> Router::Match(std::string_view method,
                                                 const std::vector<std::string>& segments,
                                                 std::vector<std::string>* allowed_methods) const {
  MatchResult result;
  const Route* route = Find(method, segments, result.params, allowed_methods);
  if (route == nullptr) {
    return std::nullopt;
  }
  result.pattern = route->pattern;
  return result;
}

void Router::Dispatch(Request&& request, Respond respond) const {
  std::vector<std::pair<std::string, std::string>> params;
  std::vector<std::string> allowed;
  const Route* route = Find(request.method, request.segments, params, &allowed);
  if (route == nullptr && allowed.empty() && fallback_ && request.method == "GET") {
    request.route = "fallback";
    try {
      fallback_(std::move(request), respond);
    } catch (const ApiError& error) {
      respond(ToResponse(error));
    } catch (const std::exception& e) {
      IOT_LOG_ERROR(kLogComponent, "msg=\"fallback threw\" what=" << log::Quote(e.what()));
      respond(ToResponse(ApiError::Internal("internal error")));
    }
    return;
  }
  if (route == nullptr) {
    respond(ToResponse(allowed.empty() ? ApiError::NotFound("no such resource: " + request.path)
                                       : ApiError::MethodNotAllowed(std::move(allowed))));
    return;
  }
  request.route = route->pattern;
  for (auto& [name, value] : params) {
    request.params.insert_or_assign(std::move(name), std::move(value));
  }
  if (!route->options.min_role || (route->options.open_on_operations && request.operations)) {
    Invoke(*route, std::move(request), std::move(respond));
    return;
  }
  std::string token(BearerToken(request.Header("authorization")));
  if (token.empty() && route->options.token_in_query) {
    token = std::string(request.Query("token").value_or(""));
  }
  if (token.empty() && route->options.token_optional) {
    Invoke(*route, std::move(request), std::move(respond));
    return;
  }
  if (token.empty()) {
    respond(ToResponse(ApiError::Unauthorized("missing bearer token")));
    return;
  }
  const std::string client = request.client_address;
  authenticator_.Authenticate(
      token, client, [this, route, request = std::move(request), respond](AuthResult result) mutable {
        if (!result.principal) {
          respond(ToResponse(FromAuthResult(result)));
          return;
        }
        auto& principal = result.principal;
        if (principal->role < *route->options.min_role) {
          respond(ToResponse(
              ApiError::Forbidden("this call needs role " + std::string(RoleName(*route->options.min_role)) +
                                  ", the token has role " + std::string(RoleName(principal->role)))));
          return;
        }
        request.principal = std::move(principal);
        Invoke(*route, std::move(request), std::move(respond));
      });
}

void Router::Invoke(const Route& route, Request&& request, Respond respond) const {
  try {
    route.handler(std::move(request), respond);
  } catch (const ApiError& error) {
    respond(ToResponse(error));
  } catch (const std::exception& e) {
    IOT_LOG_ERROR(kLogComponent, "msg=\"handler threw\" route=" << log::Quote(route.pattern)
                                                                << " what=" << log::Quote(e.what()));
    respond(ToResponse(ApiError::Internal("internal error")));
  }
}

}  // namespace iot::api

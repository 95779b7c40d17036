#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/auth.hpp"
#include "http/request.hpp"

namespace iot::api {

// A resource handler: gets the request (path parameters and principal filled in) and completes it
// through `respond`, now or later, from any thread. It may throw ApiError before it returns; the
// router turns that (and any other exception) into a problem response. Handlers never block: DB work
// goes to the DB pool, whose callback calls `respond`.
using Handler = std::function<void(Request&&, Respond)>;

struct RouteOptions {
  // Minimum role; nullopt = no token needed (operations routes).
  std::optional<Role> min_role = Role::kViewer;
  // Also accept the token as `?token=` (browsers cannot set headers on WebSocket upgrades).
  bool token_in_query = false;
  // No token needed on the operations listener (Request::operations): /metrics, /readyz.
  bool open_on_operations = false;
  // Without a token the handler still runs, with no principal (it shows less).
  bool token_optional = false;
};

// Maps method + path pattern to handlers. Patterns are "/"-separated segments: literals, "{name}"
// parameters (one whole segment, matched after percent-decoding, never empty), and Google AIP custom
// verbs on the last segment ("/api/v1/products/{pk}/devices:batch", or "{name}:verb"). Literal segments
// win over parameters, so "/x/{a}" and "/x/list" can coexist. Not thread-safe to modify: register all
// routes before the server starts.
class Router final {
 public:
  explicit Router(Authenticator& authenticator) : authenticator_(authenticator) {}

  // Throws std::invalid_argument for malformed patterns or duplicate method+pattern.
  void Add(std::string_view method, std::string_view pattern, RouteOptions options, Handler handler);
  // Called (without a token check) for GET requests that match no route at all (not for a known
  // path with another method): the web console's files and its client-side routes.
  void SetFallback(Handler handler) { fallback_ = std::move(handler); }

  // Routes a request whose target was parsed (ParseTarget): 404 unknown path, 405 with Allow for a
  // known path with another method, 401/403 per the route's min_role, else calls the handler.
  // Sets request.route before any of that (for metrics and logs).
  void Dispatch(Request&& request, Respond respond) const;

  // Routing only, for tests: the matched pattern or the ApiError (404/405) routing would answer.
  struct MatchResult {
    std::string pattern;
    std::vector<std::pair<std::string, std::string>> params;
  };
  std::optional<MatchResult> Match(std::string_view method, const std::vector<std::string>& segments,
                                   std::vector<std::string>* allowed_methods = nullptr) const;
  // Every registered method and pattern, in registration order (the contract test compares them with the
  // OpenAPI document).
  std::vector<std::pair<std::string, std::string>> Routes() const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam } kind;
    std::string text;  // literal text, or parameter name
    std::string verb;  // ":verb" suffix of a parameter segment ("" if none)
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    RouteOptions options;
    Handler handler;
  };

  const Route* Find(std::string_view method, const std::vector<std::string>& segments,
                    std::vector<std::pair<std::string, std::string>>& params,
                    std::vector<std::string>* allowed_methods) const;
  static bool MatchRoute(const Route& route, const std::vector<std::string>& segments,
                         std::vector<std::pair<std::string, std::string>>* params);
  static bool MoreSpecific(const Route& a, const Route& b);
  void Invoke(const Route& route, Request&& request, Respond respond) const;

  Authenticator& authenticator_;
  std::vector<Route> routes_;
  Handler fallback_;
};

}  // namespace iot::api

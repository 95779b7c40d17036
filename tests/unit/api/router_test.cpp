#include "http/router.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "http/problem.hpp"

namespace {

using iot::api::Request;
using iot::api::Respond;
using iot::api::Response;
using iot::api::Role;

// Runs a request through ParseTarget + Router and returns what was answered.
struct Harness {
  iot::api::StaticTokenAuthenticator auth;
  iot::api::Router router{auth};
  std::string last_route;
  std::map<std::string, std::string, std::less<>> last_params;

  Harness() {
    auth.Add("viewer-token", {.name = "v", .role = Role::kViewer});
    auth.Add("operator-token", {.name = "o", .role = Role::kOperator});
    auth.Add("admin-token", {.name = "a", .role = Role::kAdmin});
  }

  void Add(const std::string& method, const std::string& pattern, iot::api::RouteOptions options = {}) {
    router.Add(method, pattern, options, [this](Request&& request, Respond respond) {
      last_route = request.route;
      last_params = request.params;
      respond(iot::api::JsonResponse(200, request.principal ? request.principal->name : ""));
    });
  }

  Response Call(const std::string& method, const std::string& target, const std::string& token = "") {
    Request request;
    request.method = method;
    request.target = target;
    if (!token.empty()) {
      request.headers.emplace_back("authorization", "Bearer " + token);
    }
    REQUIRE_FALSE(iot::api::ParseTarget(request));
    Response out;
    out.status = 0;
    router.Dispatch(std::move(request), Respond([&](Response&& r) { out = std::move(r); }));
    return out;
  }
};

}  // namespace

TEST_CASE("Router: matches parameters per segment, percent-decoded", "[api][router]") {
  Harness h;
  h.Add("GET", "/api/v1/products/{pk}/devices/{dn}/properties/{id}/history", {.min_role = std::nullopt});
  auto r = h.Call("GET", "/api/v1/products/pk1/devices/d%2F1/properties/blk%3Atemp/history?from=1");
  CHECK(r.status == 200);
  CHECK(h.last_route == "/api/v1/products/{pk}/devices/{dn}/properties/{id}/history");
  CHECK(h.last_params.at("pk") == "pk1");
  CHECK(h.last_params.at("dn") == "d/1");
  CHECK(h.last_params.at("id") == "blk:temp");
}

TEST_CASE("Router: custom verbs and literals win over parameters", "[api][router]") {
  Harness h;
  const iot::api::RouteOptions open{.min_role = std::nullopt};
  h.Add("POST", "/api/v1/products/{pk}/devices:batch", open);
  h.Add("POST", "/api/v1/products/{pk}/devices", open);
  h.Add("GET", "/api/v1/things/{name}", open);
  h.Add("GET", "/api/v1/things/list", open);
  h.Add("POST", "/api/v1/jobs/{job}:cancel", open);

  CHECK(h.Call("POST", "/api/v1/products/p/devices:batch").status == 200);
  CHECK(h.last_route == "/api/v1/products/{pk}/devices:batch");
  CHECK(h.Call("POST", "/api/v1/products/p/devices").status == 200);
  CHECK(h.last_route == "/api/v1/products/{pk}/devices");
  CHECK(h.Call("GET", "/api/v1/things/list").status == 200);
  CHECK(h.last_route == "/api/v1/things/list");
  CHECK(h.Call("GET", "/api/v1/things/other").status == 200);
  CHECK(h.last_params.at("name") == "other");
  CHECK(h.Call("POST", "/api/v1/jobs/j7:cancel").status == 200);
  CHECK(h.last_params.at("job") == "j7");
  CHECK(h.Call("POST", "/api/v1/jobs/:cancel").status == 404);  // empty parameter
}

TEST_CASE("Router: 404 for unknown paths, 405 with Allow for other methods", "[api][router]") {
  Harness h;
  const iot::api::RouteOptions open{.min_role = std::nullopt};
  h.Add("GET", "/api/v1/products/{pk}", open);
  h.Add("PATCH", "/api/v1/products/{pk}", open);
  h.Add("DELETE", "/api/v1/products/{pk}", open);

  auto missing = h.Call("GET", "/api/v1/products/p/extra");
  CHECK(missing.status == 404);
  CHECK(missing.content_type == "application/problem+json");
  CHECK(h.Call("GET", "/api/v1/products/").status == 404);  // empty segment never matches

  auto wrong = h.Call("POST", "/api/v1/products/p");
  CHECK(wrong.status == 405);
  REQUIRE(wrong.headers.size() == 1);
  CHECK(wrong.headers[0].first == "Allow");
  CHECK(wrong.headers[0].second == "DELETE, GET, PATCH");
}

TEST_CASE("Router: 401 without or with unknown token, 403 below the route's role", "[api][router][auth]") {
  Harness h;
  h.Add("POST", "/api/v1/products", {.min_role = Role::kAdmin});
  h.Add("POST", "/api/v1/ops", {.min_role = Role::kOperator});
  h.Add("GET", "/api/v1/products", {.min_role = Role::kViewer});
  h.Add("GET", "/api/v1/stream", {.min_role = Role::kViewer, .token_in_query = true});

  CHECK(h.Call("GET", "/api/v1/products").status == 401);
  CHECK(h.Call("GET", "/api/v1/products", "wrong").status == 401);
  CHECK(h.Call("GET", "/api/v1/products", "viewer-token").status == 200);
  CHECK(h.Call("POST", "/api/v1/products", "viewer-token").status == 403);
  CHECK(h.Call("POST", "/api/v1/products", "operator-token").status == 403);
  CHECK(h.Call("POST", "/api/v1/products", "admin-token").body == "a");
  CHECK(h.Call("POST", "/api/v1/ops", "operator-token").status == 200);
  CHECK(h.Call("POST", "/api/v1/ops", "admin-token").status == 200);
  // ?token= only where the route allows it.
  CHECK(h.Call("GET", "/api/v1/products?token=viewer-token").status == 401);
  CHECK(h.Call("GET", "/api/v1/stream?token=viewer-token").status == 200);
}

TEST_CASE("Router: a handler's ApiError or exception becomes a problem response", "[api][router]") {
  iot::api::StaticTokenAuthenticator auth;
  iot::api::Router router(auth);
  const iot::api::RouteOptions open{.min_role = std::nullopt};
  router.Add("GET", "/conflict", open,
             [](Request&&, Respond) { throw iot::api::ApiError::Conflict("it exists"); });
  router.Add("GET", "/boom", open, [](Request&&, Respond) { throw std::runtime_error("secret detail"); });
  router.Add("GET", "/dropped", open, [](Request&&, Respond) {});

  auto call = [&](const std::string& target) {
    Request request;
    request.method = "GET";
    request.target = target;
    REQUIRE_FALSE(iot::api::ParseTarget(request));
    Response out;
    router.Dispatch(std::move(request), Respond([&](Response&& r) { out = std::move(r); }));
    return out;
  };
  auto conflict = call("/conflict");
  CHECK(conflict.status == 409);
  CHECK(nlohmann::json::parse(conflict.body)["detail"] == "it exists");
  auto boom = call("/boom");
  CHECK(boom.status == 500);
  CHECK(boom.body.find("secret detail") == std::string::npos);
  CHECK(call("/dropped").status == 500);  // never answered: Respond answers when the last copy dies
}

TEST_CASE("Router: rejects malformed and duplicate patterns", "[api][router]") {
  iot::api::StaticTokenAuthenticator auth;
  iot::api::Router router(auth);
  auto noop = [](Request&&, Respond) {};
  CHECK_THROWS(router.Add("GET", "no-slash", {}, noop));
  CHECK_THROWS(router.Add("GET", "/a//b", {}, noop));
  CHECK_THROWS(router.Add("GET", "/a/{}", {}, noop));
  CHECK_THROWS(router.Add("GET", "/a/{x", {}, noop));
  CHECK_THROWS(router.Add("GET", "/a/{x}y", {}, noop));
  CHECK_THROWS(router.Add("GET", "/a/b{x}", {}, noop));
  router.Add("GET", "/a/{x}", {}, noop);
  CHECK_THROWS(router.Add("GET", "/a/{x}", {}, noop));
}

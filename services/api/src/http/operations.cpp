#include "http/operations.hpp"

#include <nlohmann/json.hpp>

#include "http/problem.hpp"

namespace iot::api {

void AddOperationsRoutes(Router& router, const Readiness& readiness, const MetricsRegistry& metrics,
                         std::string openapi_json) {
  const RouteOptions open{.min_role = std::nullopt};

  router.Add("GET", "/healthz", open,
             [](Request&&, Respond respond) { respond(JsonResponse(200, R"({"status":"ok"})")); });

  // Details (which dependency fails and why) and metrics only on the operations listener or for a
  // token: they describe the deployment. The bare readiness status stays open for load balancers.
  const RouteOptions details{.open_on_operations = true, .token_optional = true};
  const RouteOptions token_or_operations{.open_on_operations = true};

  router.Add("GET", "/readyz", details, [&readiness](Request&& request, Respond respond) {
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& probe : readiness.Probes()) {
      std::string detail;
      if (!probe->Ready(detail)) {
        failed.push_back({{"name", probe->Name()}, {"detail", detail}});
      }
    }
    nlohmann::json body = {{"status", failed.empty() ? "ready" : "not ready"}};
    if (request.operations || request.principal) {
      body["failed"] = failed;
    }
    respond(JsonResponse(failed.empty() ? 200 : 503, body.dump()));
  });

  router.Add("GET", "/metrics", token_or_operations, [&metrics](Request&&, Respond respond) {
    Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics.Render();
    respond(std::move(response));
  });

  router.Add(
      "GET", "/api/v1/openapi.json", open,
      [doc = std::move(openapi_json)](Request&&, Respond respond) { respond(JsonResponse(200, doc)); });
}

}  // namespace iot::api

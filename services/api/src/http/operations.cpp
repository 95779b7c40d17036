#include "http/operations.hpp"

#include <nlohmann/json.hpp>

#include "http/problem.hpp"

namespace iot::api {

void AddOperationsRoutes(Router& router, const Readiness& readiness, const MetricsRegistry& metrics,
                         std::string openapi_json) {
  const RouteOptions open{.min_role = std::nullopt};

  router.Add("GET", "/healthz", open, [](Request&&, Respond respond) {
    respond(JsonResponse(200, R"({"status":"ok"})"));
  });

  router.Add("GET", "/readyz", open, [&readiness](Request&&, Respond respond) {
    nlohmann::json failed = nlohmann::json::array();
    for (const auto& probe : readiness.Probes()) {
      std::string detail;
      if (!probe->Ready(detail)) {
        failed.push_back({{"name", probe->Name()}, {"detail", detail}});
      }
    }
    nlohmann::json body = {{"status", failed.empty() ? "ready" : "not ready"}, {"failed", failed}};
    respond(JsonResponse(failed.empty() ? 200 : 503, body.dump()));
  });

  router.Add("GET", "/metrics", open, [&metrics](Request&&, Respond respond) {
    Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics.Render();
    respond(std::move(response));
  });

  router.Add("GET", "/api/v1/openapi.json", open,
             [doc = std::move(openapi_json)](Request&&, Respond respond) {
               respond(JsonResponse(200, doc));
             });
}

}  // namespace iot::api

// The OpenAPI document is the living contract: every route iot-api registers is in it with its method, and
// every operation it lists is served. Path parameter names may differ between the two ({id}, {firmwareId}).
#include <set>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handlers/common.hpp"
#include "http/operations.hpp"
#include "iot/store/pool.hpp"
#include "openapi_document.hpp"

namespace {

// "/api/v1/products/{pk}/firmwares/{id}" -> "/products/{}/firmwares/{}"; operations routes stay at the root.
std::string Normalise(std::string path) {
  if (path.rfind("/api/v1/", 0) == 0) {
    path.erase(0, 7);
  }
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '{') {
      const auto close = path.find('}', i);
      REQUIRE(close != std::string::npos);
      out += "{}";
      i = close;
    } else {
      out += path[i];
    }
  }
  return out;
}

std::string Lower(std::string text) {
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

}  // namespace

TEST_CASE("Contract: the OpenAPI document and the registered routes list the same operations",
          "[api][contract]") {
  iot::api::StaticTokenAuthenticator auth;
  iot::api::Router router(auth);
  // Routes are only registered here: no handler runs, the pool never reaches a server (a socket path that
  // does not exist fails at once).
  iot::store::PoolSettings pool_settings;
  pool_settings.db.dsn = "host=/nonexistent-iot-contract-test dbname=none connect_timeout=1";
  pool_settings.threads = 1;
  iot::store::DbPool pool(pool_settings);
  iot::api::HandlerContext context{pool};
  iot::api::AddResourceRoutes(router, context);
  iot::api::Readiness readiness;
  iot::api::MetricsRegistry metrics;
  const std::string document = iot::api::LoadOpenApiDocument("");
  iot::api::AddOperationsRoutes(router, readiness, metrics, document);

  const auto doc = nlohmann::json::parse(document);
  std::set<std::string> documented;
  for (const auto& [path, item] : doc.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      if (method == "get" || method == "post" || method == "put" || method == "patch" || method == "delete") {
        documented.insert(method + " " + Normalise(path));
      }
    }
  }
  std::set<std::string> served;
  for (const auto& [method, pattern] : router.Routes()) {
    served.insert(Lower(method) + " " + Normalise(pattern));
  }
  served.insert("get /stream");  // the WebSocket upgrade, taken by the transport before routing

  for (const auto& operation : served) {
    INFO("served but not in schemas/api/openapi.json: " << operation);
    CHECK(documented.count(operation) == 1);
  }
  for (const auto& operation : documented) {
    INFO("in schemas/api/openapi.json but not served: " << operation);
    CHECK(served.count(operation) == 1);
  }
  CHECK(served.size() > 50);  // (84 when written)
}

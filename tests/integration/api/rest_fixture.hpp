#pragma once

// A running iot-api over its own database plus helpers to call it and to seed data via the store.
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api_process.hpp"
#include "iot/common/clock.hpp"
#include "iot/store/db.hpp"
#include "iot/testing/http_client.hpp"

namespace iot::api::itest {

using iot::NowMs;

using iot::testing::HttpResponse;
using nlohmann::json;

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline json Json(const HttpResponse& response) {
  auto value = json::parse(response.body, nullptr, false);
  return value;
}

struct Rest {
  ApiProcess api;
  iot::testing::HttpClient client{api.Port()};
  iot::store::Db db{iot::store::DbSettings{.dsn = api.Dsn()}};

  explicit Rest(Env env = {}) : api(std::move(env)) {}

  HttpResponse Call(const std::string& method, const std::string& target, const std::string& body,
                    const std::string& token = kAdminToken,
                    const std::string& content_type = "application/json") {
    iot::testing::HttpHeaders headers;
    if (!token.empty()) {
      headers.emplace_back("Authorization", "Bearer " + token);
    }
    if (!body.empty()) {
      headers.emplace_back("Content-Type", content_type);
    }
    return client.Request(method, "/api/v1" + target, headers, body);
  }
  HttpResponse Call(const std::string& method, const std::string& target, const char* body = "",
                    const std::string& token = kAdminToken,
                    const std::string& content_type = "application/json") {
    return Call(method, target, std::string(body), token, content_type);
  }
  HttpResponse Call(const std::string& method, const std::string& target, const json& body,
                    const std::string& token = kAdminToken) {
    return Call(method, target, body.dump(), token);
  }

  // A token of `role`, created through the API.
  std::string Token(const std::string& name, const std::string& role) {
    auto r = Call("POST", "/tokens", json{{"name", name}, {"role", role}});
    REQUIRE(r.status == 201);
    return Json(r)["token"].get<std::string>();
  }
  void Product(const std::string& pk, const std::string& validation = "weak") {
    auto r =
        Call("POST", "/products", json{{"name", "P " + pk}, {"productKey", pk}, {"validation", validation}});
    REQUIRE(r.status == 201);
  }
  json Device(const std::string& pk, const std::string& dn) {
    auto r = Call("POST", "/products/" + pk + "/devices", json{{"deviceName", dn}});
    REQUIRE(r.status == 201);
    return Json(r);
  }
};

// Every problem answer has this shape.
inline void CheckProblem(const HttpResponse& r, int status) {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(r.Header("content-type") == "application/problem+json");
  auto p = Json(r);
  REQUIRE(p.is_object());
  CHECK(p["status"] == status);
  CHECK(p["type"].is_string());
  CHECK(p["title"].is_string());
  CHECK(p["detail"].is_string());
  CHECK(p["errors"].is_array());
}

}  // namespace iot::api::itest

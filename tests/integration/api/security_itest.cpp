// Issue "secure by default", API side, against the real iot-api over its own PostgreSQL database:
// token checks that cannot run answer 503 (never 401), failed authentications are limited per client
// address (X-Forwarded-For only from trusted proxies), revocation reaches every instance, the
// bootstrap admin token stays revoked, new tokens expire by default, and every answer says nosniff.

#include <future>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "rest_fixture.hpp"

using namespace std::chrono_literals;
using iot::api::itest::ApiProcess;
using iot::api::itest::CheckProblem;
using iot::api::itest::Env;
using iot::api::itest::Json;
using iot::api::itest::kAdminToken;
using iot::api::itest::Rest;
using iot::testing::HttpRequest;

namespace {

iot::testing::HttpResponse Get(int port, const std::string& target, const std::string& token,
                               iot::testing::HttpHeaders extra = {}) {
  extra.emplace_back("Authorization", "Bearer " + token);
  return HttpRequest(port, "GET", target, extra);
}

// The token cache only works while its LISTEN connection is up: wait for it, so tests see the cache.
void WaitTokenCache(ApiProcess& api) {
  REQUIRE(iot::testing::PollUntil([&] { return api.Process().LogContains("token cache on"); }, 10s, 20ms));
}

}  // namespace

TEST_CASE("Security: a token check that cannot run answers 503 with Retry-After, never 401",
          "[integration][api][security]") {
  // One DB worker, a queue of one, no cache: every request needs a lookup on the pool.
  Rest rest(Env{{"IOT_PG_POOL_THREADS", "1"}, {"IOT_PG_POOL_QUEUE", "1"}, {"IOT_TOKEN_CACHE_MS", "0"}});
  INFO(rest.api.Log());
  // (The readiness probe's pings share that queue of one: a call may meet one and get 503 too.)
  REQUIRE(iot::testing::PollUntil([&] { return rest.Call("GET", "/products").status == 200; }, 10s, 50ms));
  // Hold the tokens table: the worker's lookup waits on the lock, the queue fills, the rest is refused.
  // The calls go to /metrics, which needs a token but nothing else from the pool: a resource route
  // would need a second pool task after its lookup, and with a queue of one that task may be refused
  // (503 from the handler, correct but not what this test is about).
  pqxx::connection locker(rest.api.Dsn());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE");
  std::vector<std::future<iot::testing::HttpResponse>> calls;
  for (int i = 0; i < 8; ++i) {
    calls.push_back(
        std::async(std::launch::async, [&] { return Get(rest.api.Port(), "/metrics", kAdminToken); }));
  }
  // The refused ones answer while the lock is still held.
  int early_503 = 0;
  for (auto& call : calls) {
    if (call.wait_for(3s) == std::future_status::ready) {
      auto r = call.get();
      CHECK(r.status == 503);
      CHECK(r.Header("retry-after") == "1");
      ++early_503;
    }
  }
  lock.abort();
  CHECK(early_503 >= 1);
  for (auto& call : calls) {
    if (call.valid()) {
      CHECK(call.get().status == 200);  // the lookups that waited complete normally
    }
  }
  CHECK(iot::testing::PollUntil([&] { return rest.Call("GET", "/products").status == 200; }, 10s, 50ms));
}

TEST_CASE("Security: failed authentications are limited per client address (429)",
          "[integration][api][security]") {
  SECTION("X-Forwarded-For is ignored when the peer is not a trusted proxy") {
    ApiProcess api(Env{{"IOT_AUTH_FAILURES_PER_MIN", "5"}});
    INFO(api.Log());
    WaitTokenCache(api);
    REQUIRE(Get(api.Port(), "/api/v1/products", kAdminToken).status == 200);  // cached from now on
    for (int i = 0; i < 5; ++i) {
      CHECK(Get(api.Port(), "/api/v1/products", "guess-" + std::to_string(i)).status == 401);
    }
    auto limited = Get(api.Port(), "/api/v1/products", "guess-5");
    CheckProblem(limited, 429);
    CHECK_FALSE(limited.Header("retry-after").empty());
    // A forged X-Forwarded-For does not get a fresh budget.
    CHECK(Get(api.Port(), "/api/v1/products", "guess-6", {{"X-Forwarded-For", "203.0.113.77"}}).status ==
          429);
    // The stream's upgrade counts the same way.
    CHECK(HttpRequest(api.Port(), "GET", "/api/v1/stream?token=guess-7",
                      {{"Connection", "Upgrade"},
                       {"Upgrade", "websocket"},
                       {"Sec-WebSocket-Version", "13"},
                       {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}})
              .status == 429);
    // A valid token that is cached still works from that address.
    CHECK(Get(api.Port(), "/api/v1/products", kAdminToken).status == 200);
  }
  SECTION("behind a trusted proxy each forwarded client has its own budget") {
    ApiProcess api(Env{{"IOT_AUTH_FAILURES_PER_MIN", "5"}, {"IOT_TRUSTED_PROXIES", "192.0.2.1, 127.0.0.1"}});
    INFO(api.Log());
    const iot::testing::HttpHeaders a = {{"X-Forwarded-For", "203.0.113.1"}};
    for (int i = 0; i < 5; ++i) {
      CHECK(Get(api.Port(), "/api/v1/products", "guess-" + std::to_string(i), a).status == 401);
    }
    CHECK(Get(api.Port(), "/api/v1/products", "guess-5", a).status == 429);
    CHECK(Get(api.Port(), "/api/v1/products", "guess-6", {{"X-Forwarded-For", "203.0.113.2"}}).status == 401);
    // The client cannot prepend an address of its choice: the nearest untrusted hop counts.
    CHECK(Get(api.Port(), "/api/v1/products", "guess-7", {{"X-Forwarded-For", "198.51.100.1, 203.0.113.1"}})
              .status == 429);
  }
}

TEST_CASE("Security: a revoked token fails before DELETE answers here and within 1 s on another instance",
          "[integration][api][security]") {
  Rest a;
  ApiProcess b(Env{}, a.api.Dsn());
  INFO(a.api.Log() << "\n----- b\n" << b.Log());
  WaitTokenCache(a.api);
  WaitTokenCache(b);
  auto created = a.Call("POST", "/tokens", nlohmann::json{{"name", "leaky"}, {"role", "operator"}});
  REQUIRE(created.status == 201);
  const std::string token = Json(created)["token"];
  const std::string id = Json(created)["id"];
  // Both instances have it cached.
  REQUIRE(Get(a.api.Port(), "/api/v1/products", token).status == 200);
  REQUIRE(Get(b.Port(), "/api/v1/products", token).status == 200);
  REQUIRE(Get(b.Port(), "/api/v1/products", token).status == 200);
  REQUIRE(a.Call("DELETE", "/tokens/" + id).status == 204);
  CHECK(Get(a.api.Port(), "/api/v1/products", token).status == 401);
  CHECK(iot::testing::PollUntil([&] { return Get(b.Port(), "/api/v1/products", token).status == 401; }, 20s,
                                20ms));

  // An instance that loses its LISTEN connection stops using its cache until it is back: the token is
  // revoked after the listeners' backends have exited (pg_terminate_backend waits for them) and before
  // they reconnect (after a backoff), so no NOTIFY about it reaches b; b must not answer from its cache.
  auto second = a.Call("POST", "/tokens", nlohmann::json{{"name", "leaky2"}, {"role", "viewer"}});
  REQUIRE(second.status == 201);
  const std::string token2 = Json(second)["token"];
  REQUIRE(Get(b.Port(), "/api/v1/products", token2).status == 200);  // cached on b
  {
    pqxx::connection admin(a.api.Dsn());
    pqxx::work tx(admin);
    auto killed = tx.exec(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE application_name = 'iot-api-tokens' AND datname = current_database()");
    REQUIRE(killed.size() == 2);  // a's and b's
    tx.exec_params("UPDATE api_tokens SET revoked = true WHERE id = $1",
                   std::stoll(Json(second)["id"].get<std::string>()));
    tx.commit();
  }
  // b notices the loss at once (the server closed the connection; a vanished server within ~5 s).
  REQUIRE(iot::testing::PollUntil([&] { return b.Process().LogContains("token cache off"); }, 20s, 10ms));
  CHECK(Get(b.Port(), "/api/v1/products", token2).status == 401);
  // Back: the cache is used again.
  CHECK(iot::testing::PollUntil([&] { return b.Process().LogCount("token cache on") >= 2; }, 10s, 20ms));
}

TEST_CASE("Security: the token cache holds at most IOT_TOKEN_CACHE_ENTRIES tokens",
          "[integration][api][security]") {
  Rest rest(Env{{"IOT_TOKEN_CACHE_ENTRIES", "2"}});
  INFO(rest.api.Log());
  WaitTokenCache(rest.api);
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) {
    auto created =
        rest.Call("POST", "/tokens", nlohmann::json{{"name", "t" + std::to_string(i)}, {"role", "viewer"}});
    REQUIRE(created.status == 201);
    tokens.push_back(Json(created)["token"]);
  }
  // Whatever the cache held before, a bound of 2 leaves {t2} or {t1, t2} after these three: never t0.
  for (const auto& token : tokens) {
    REQUIRE(Get(rest.api.Port(), "/api/v1/products", token).status == 200);
  }
  // With the tokens table locked, a cached token answers at once and an evicted one waits for its lookup.
  pqxx::connection locker(rest.api.Dsn());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE");
  CHECK(Get(rest.api.Port(), "/api/v1/products", tokens[2]).status == 200);
  auto evicted =
      std::async(std::launch::async, [&] { return Get(rest.api.Port(), "/api/v1/products", tokens[0]); });
  CHECK(evicted.wait_for(2s) == std::future_status::timeout);
  lock.abort();
  CHECK(evicted.get().status == 200);
}

TEST_CASE("Security: a revoked bootstrap admin token stays revoked after a restart",
          "[integration][api][security]") {
  iot::testing::PgDatabase database;  // outlives both processes
  const std::string dsn = database.Dsn();
  auto api = std::make_unique<ApiProcess>(Env{}, dsn);
  auto admin = HttpRequest(api->Port(), "POST", "/api/v1/tokens",
                           {{"Authorization", "Bearer " + kAdminToken}, {"Content-Type", "application/json"}},
                           R"({"name":"rotated-admin","role":"admin"})");
  REQUIRE(admin.status == 201);
  const std::string rotated = nlohmann::json::parse(admin.body)["token"];
  auto list = nlohmann::json::parse(Get(api->Port(), "/api/v1/tokens", rotated).body);
  std::string bootstrap_id;
  for (const auto& t : list["items"]) {
    if (t["name"] == "bootstrap-admin") {
      bootstrap_id = t["id"];
    }
  }
  REQUIRE_FALSE(bootstrap_id.empty());
  REQUIRE(HttpRequest(api->Port(), "DELETE", "/api/v1/tokens/" + bootstrap_id,
                      {{"Authorization", "Bearer " + rotated}})
              .status == 204);
  api.reset();
  ApiProcess restarted(Env{}, dsn);  // same IOT_ADMIN_TOKEN
  INFO(restarted.Log());
  CHECK(Get(restarted.Port(), "/api/v1/products", kAdminToken).status == 401);
  CHECK(Get(restarted.Port(), "/api/v1/products", rotated).status == 200);
  CHECK(restarted.Process().LogContains("stays revoked"));
}

TEST_CASE("Security: new tokens expire by default (configurable, 0 = never)",
          "[integration][api][security]") {
  Rest rest;
  INFO(rest.api.Log());
  const auto now = iot::NowMs();
  auto implicit = Json(rest.Call("POST", "/tokens", nlohmann::json{{"name", "a"}, {"role", "viewer"}}));
  REQUIRE(implicit["expiresAt"].is_number_integer());
  const auto ninety_days = 90LL * 24 * 3600 * 1000;
  CHECK(implicit["expiresAt"].get<std::int64_t>() >= now + ninety_days - 60000);
  CHECK(implicit["expiresAt"].get<std::int64_t>() <= now + ninety_days + 60000);
  auto never = Json(rest.Call("POST", "/tokens",
                              nlohmann::json{{"name", "b"}, {"role", "viewer"}, {"expiresAt", nullptr}}));
  CHECK(never["expiresAt"].is_null());

  ApiProcess no_default(Env{{"IOT_TOKEN_DEFAULT_TTL_DAYS", "0"}}, rest.api.Dsn());
  auto r = HttpRequest(no_default.Port(), "POST", "/api/v1/tokens",
                       {{"Authorization", "Bearer " + kAdminToken}, {"Content-Type", "application/json"}},
                       R"({"name":"c","role":"viewer"})");
  REQUIRE(r.status == 201);
  CHECK(nlohmann::json::parse(r.body)["expiresAt"].is_null());
}

// Black-box tests of the real iot-api binary over loopback HTTP.
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api_process.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/process.hpp"

namespace {

using iot::testing::HttpClient;
using iot::testing::HttpRequest;
using iot::testing::RawConnection;

using iot::api::itest::ApiProcess;
using iot::api::itest::Env;

nlohmann::json Json(const std::string& text) { return nlohmann::json::parse(text); }

// Holds `limit` connections; one more is accepted by the kernel and closed by the server at once,
// unanswered, while the held ones keep working (`while_full` runs then); closing one frees a slot.
void CheckConnectionLimit(ApiProcess& api, int limit, const std::function<void()>& while_full = {}) {
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < limit; ++i) {
    held.push_back(std::make_unique<HttpClient>(api.Port()));
    REQUIRE(held.back()->Request("GET", "/healthz").status == 200);
  }
  RawConnection extra(api.Port());
  CHECK(extra.WaitForClose(std::chrono::seconds(5)));
  CHECK(extra.Received().empty());
  for (auto& client : held) {
    CHECK(client->Request("GET", "/healthz").status == 200);
  }
  if (while_full) {
    while_full();
  }
  held.pop_back();
  CHECK(iot::testing::PollUntil([&] {
    try {
      return HttpRequest(api.Port(), "GET", "/healthz").status == 200;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

}  // namespace

TEST_CASE("iot-api: healthz is open - metrics and readiness details need the operations listener or a token",
          "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  HttpClient client(api.Port());
  const iot::testing::HttpHeaders admin = {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}};
  auto health = client.Request("GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(Json(health.body)["status"] == "ok");
  CHECK_FALSE(health.Header("x-request-id").empty());

  // PostgreSQL is the only probe without IOT_MQTT_HOST; it turns ready after the first ping.
  CHECK(iot::testing::PollUntil([&] { return client.Request("GET", "/readyz").status == 200; }));
  // Without a token the public listener tells only the status; details with a token or on operations.
  CHECK_FALSE(Json(client.Request("GET", "/readyz").body).contains("failed"));
  CHECK(Json(client.Request("GET", "/readyz", admin).body)["failed"].is_array());
  CHECK(Json(HttpRequest(api.OpsPort(), "GET", "/readyz").body)["failed"].is_array());
  CHECK(client.Request("GET", "/metrics").status == 401);
  CHECK(HttpRequest(api.OpsPort(), "GET", "/metrics").status == 200);

  // The operations connections above are closed by the client; the server counts one down when its
  // session ends, which may be a moment later on a loaded machine: wait for it, then read the figures.
  auto metrics = client.Request("GET", "/metrics", admin);
  CHECK(iot::testing::PollUntil([&] {
    metrics = client.Request("GET", "/metrics", admin);
    return metrics.body.find("iot_http_connections 1") != std::string::npos;
  }));
  REQUIRE(metrics.status == 200);
  CHECK(metrics.Header("content-type").rfind("text/plain", 0) == 0);
  CHECK(metrics.body.find("iot_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"2xx\"} 1") !=
        std::string::npos);
  CHECK(metrics.body.find("iot_http_request_duration_seconds_bucket{route=\"/readyz\"") != std::string::npos);
  CHECK(metrics.body.find("iot_http_connections 1") != std::string::npos);
  // Build info and the standard process metrics (Prometheus client names).
  CHECK(metrics.body.find("\niot_build_info{service=\"api\",version=\"") != std::string::npos);
  for (const char* name :
       {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
        "process_max_fds ", "process_start_time_seconds ", "process_virtual_memory_bytes "}) {
    INFO(name);
    const auto at = metrics.body.find(std::string("\n") + name);
    REQUIRE(at != std::string::npos);
    CHECK(std::stod(metrics.body.substr(at + 1 + std::string(name).size())) > 0);
  }
}

TEST_CASE("iot-api: every answer carries X-Content-Type-Options: nosniff", "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  HttpClient client(api.Port());
  for (const char* target :
       {"/healthz", "/api/v1/products", "/api/v1/nothing-here", "/api/v1/openapi.json", "/"}) {
    INFO(target);
    CHECK(client.Request("GET", target).Header("x-content-type-options") == "nosniff");
  }
  RawConnection raw(api.Port());
  REQUIRE(raw.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"));
  CHECK(raw.ReadResponse().Header("x-content-type-options") == "nosniff");
}

TEST_CASE("iot-api: connections per client address are limited, other addresses are not affected",
          "[integration][api]") {
  ApiProcess api(Env{{"IOT_HTTP_MAX_CONNECTIONS_PER_CLIENT", "3"}});
  INFO(api.Log());
  CheckConnectionLimit(api, 3);  // all from 127.0.0.1
}

TEST_CASE("iot-api: openapi.json is valid JSON that lists every contract path", "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  auto response = HttpRequest(api.Port(), "GET", "/api/v1/openapi.json");
  REQUIRE(response.status == 200);
  auto doc = nlohmann::json::parse(response.body, nullptr, false);
  REQUIRE(doc.is_object());
  CHECK(doc["openapi"].get<std::string>().rfind("3.0", 0) == 0);
  const auto& paths = doc["paths"];
  for (const char* path : {"/tokens",
                           "/tokens/{tokenId}",
                           "/products",
                           "/products/{pk}",
                           "/products/{pk}/thing-model",
                           "/products/{pk}/thing-model/publish",
                           "/products/{pk}/thing-model/versions",
                           "/products/{pk}/devices",
                           "/products/{pk}/devices:batch",
                           "/products/{pk}/devices/{dn}",
                           "/products/{pk}/devices/{dn}/properties",
                           "/products/{pk}/devices/{dn}/properties/{id}/history",
                           "/products/{pk}/devices/{dn}/properties/{id}/aggregate",
                           "/products/{pk}/devices/{dn}/events",
                           "/products/{pk}/devices/{dn}/service-calls",
                           "/products/{pk}/devices/{dn}/service-calls/{callId}",
                           "/products/{pk}/devices/{dn}/rejections",
                           "/products/{pk}/devices/{dn}/services/{id}",
                           "/products/{pk}/devices/{dn}/desired-properties",
                           "/audit",
                           "/stream",
                           "/openapi.json",
                           "/products/{pk}/devices:import",
                           "/products/{pk}/devices:export",
                           "/products/{pk}/devices/{dn}/registration:reset",
                           "/products/{pk}:rotateProductSecret",
                           "/auth/register/device"}) {
    INFO(path);
    CHECK(paths.contains(path));
  }
  for (const char* op : {"/healthz", "/readyz", "/metrics"}) {
    INFO(op);
    CHECK(paths.contains(op));
  }
}

TEST_CASE("iot-api: unknown paths give 404 and wrong methods 405 with Allow", "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  HttpClient client(api.Port());
  auto missing = client.Request("GET", "/api/v1/nothing-here");
  CHECK(missing.status == 404);
  CHECK(missing.Header("content-type") == "application/problem+json");
  auto problem = Json(missing.body);
  CHECK(problem["status"] == 404);
  CHECK(problem["title"] == "Not Found");
  CHECK(problem["errors"].is_array());

  auto wrong = client.Request("DELETE", "/healthz");
  CHECK(wrong.status == 405);
  CHECK(wrong.Header("allow") == "GET");
  // Keep-alive survives error answers.
  CHECK(client.Request("GET", "/healthz").status == 200);
}

TEST_CASE("iot-api: hostile path segments get a clean 4xx and the server keeps serving",
          "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  HttpClient client(api.Port());
  for (const char* target :
       {"/api/v1/products/%00/devices", "/api/v1/../../etc/passwd", "/api/v1/products/..%2F..%2Fetc",
        "/api/v1/products/%2e%2e/x", "/api/v1/products/a'%20OR%201=1;--/devices", "/api/v1/products/%zz",
        "/api/v1/products/x%0d%0aSet-Cookie:a=b", "/api/v1/products?limit=%00"}) {
    INFO(target);
    auto response = client.Request("GET", target);
    CHECK(response.status >= 400);
    CHECK(response.status < 500);
    CHECK(response.Header("set-cookie").empty());
  }
  // Not origin-form: Beast or our target check refuses it.
  RawConnection raw(api.Port());
  raw.Send("GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(raw.ReadResponse().status == 400);
  CHECK(client.Request("GET", "/healthz").status == 200);
}

TEST_CASE("iot-api: a body over the limit gets 413 problem+json", "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  auto response = HttpRequest(api.Port(), "POST", "/api/v1/products", {{"Content-Type", "application/json"}},
                              std::string(1024 * 1024 + 1, 'x'));
  CHECK(response.status == 413);
  CHECK(response.Header("content-type") == "application/problem+json");
  CHECK(Json(response.body)["status"] == 413);

  // A smaller limit from the environment applies too.
  ApiProcess small(Env{{"IOT_HTTP_BODY_LIMIT", "2048"}});
  CHECK(HttpRequest(small.Port(), "POST", "/healthz", {}, std::string(4096, 'y')).status == 413);
  CHECK(HttpRequest(small.Port(), "POST", "/healthz", {}, std::string(1000, 'y')).status == 405);
}

TEST_CASE("iot-api: headers over 8 KiB get 431", "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  auto response = HttpRequest(api.Port(), "GET", "/healthz", {{"X-Big", std::string(9000, 'h')}});
  CHECK(response.status == 431);
}

TEST_CASE("iot-api: a slow client is closed after the read timeout and nobody else notices",
          "[integration][api]") {
  ApiProcess api(Env{{"IOT_HTTP_READ_TIMEOUT_MS", "600"}});
  INFO(api.Log());
  RawConnection slow(api.Port());
  REQUIRE(slow.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));  // half a request, then silence
  const auto started = std::chrono::steady_clock::now();
  HttpClient other(api.Port());
  for (int i = 0; i < 5; ++i) {
    CHECK(other.Request("GET", "/healthz").status == 200);
  }
  CHECK(slow.WaitForClose(std::chrono::seconds(5)));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(elapsed >= std::chrono::milliseconds(400));
  CHECK(slow.Received().empty());
  // (A new connection: `other` has been idle for the read timeout by now, and is closed as below.)
  CHECK(HttpRequest(api.Port(), "GET", "/healthz").status == 200);

  // An idle keep-alive connection is closed the same way.
  RawConnection idle(api.Port());
  REQUIRE(idle.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(idle.ReadResponse().status == 200);
  CHECK(idle.WaitForClose(std::chrono::seconds(5)));
}

TEST_CASE("iot-api: connections above the limit are refused, the rest keep working", "[integration][api]") {
  ApiProcess api(Env{{"IOT_HTTP_MAX_CONNECTIONS", "3"}});
  INFO(api.Log());
  // The operations listener is not counted: monitoring works while the public listener is full.
  CheckConnectionLimit(api, 3, [&] {
    CHECK(HttpRequest(api.OpsPort(), "GET", "/metrics").body.find("iot_http_connections_refused_total") !=
          std::string::npos);
  });
}

TEST_CASE("iot-api: SIGTERM stops it cleanly with exit status 0", "[integration][api]") {
  ApiProcess api;
  INFO(api.Log());
  HttpClient idle(api.Port());
  REQUIRE(idle.Request("GET", "/healthz").status == 200);  // an idle keep-alive connection
  const int status = api.Process().Stop(std::chrono::seconds(5));
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("iot-api: bad configuration exits with status 2 and says why", "[integration][api]") {
  const std::string dir = iot::testing::RequireEnv("IOT_TEST_TMP");
  const std::string log = dir + "/iot-api-badconfig-" + std::to_string(::getpid()) + ".log";
  const int status = iot::testing::RunShell(
      "IOT_HTTP_PORT=99999 IOT_HTTP_THREADS=zero '" + std::string(IOT_API_BINARY) + "'", log);
  CHECK(status == 2);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("IOT_HTTP_PORT") != std::string::npos);
  CHECK(text.find("IOT_HTTP_THREADS") != std::string::npos);
}

TEST_CASE("iot-api: serves HTTPS with the same session code when given a certificate",
          "[integration][api][tls]") {
  const std::string dir = iot::testing::RequireEnv("IOT_TEST_TMP");
  const std::string base = dir + "/api-tls-" + std::to_string(::getpid());
  REQUIRE(iot::testing::RunShell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                                 "-keyout '" +
                                     base + ".key' -out '" + base + ".crt'",
                                 base + ".openssl.log") == 0);
  const int https_port = iot::testing::FreePort();
  ApiProcess api(Env{{"IOT_TLS_CERT", base + ".crt"},
                     {"IOT_TLS_KEY", base + ".key"},
                     {"IOT_HTTPS_PORT", std::to_string(https_port)}});
  INFO(api.Log());
  const std::string url = "https://127.0.0.1:" + std::to_string(https_port);
  // Plain HTTP keeps serving on its own (loopback) listener next to HTTPS.
  CHECK(HttpRequest(api.Port(), "GET", "/healthz").status == 200);
  const std::string out = base + ".curl.out";
  CHECK(iot::testing::RunShell("curl -sS --max-time 10 --cacert '" + base + ".crt' -o '" + out + "' " + url +
                               "/healthz") == 0);
  std::ifstream in(out);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(body == R"({"status":"ok"})");
  // Plain HTTP on the TLS port gets no HTTP answer, and the server keeps serving.
  RawConnection plain(https_port);
  plain.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(plain.WaitForClose(std::chrono::seconds(15)));
  CHECK(plain.Received().find("HTTP/1.1 200") == std::string::npos);
  CHECK(iot::testing::RunShell("curl -sS --max-time 10 --cacert '" + base + ".crt' -o /dev/null " + url +
                               "/healthz") == 0);
}

TEST_CASE("iot-api: plain HTTP opened to the network logs a warning, loopback does not",
          "[integration][api]") {
  ApiProcess loopback;
  ApiProcess open(Env{{"IOT_HTTP_BIND", "0.0.0.0"}});
  INFO(open.Log());
  CHECK(HttpRequest(open.Port(), "GET", "/healthz").status == 200);
  CHECK(open.Process().LogContains("plain HTTP is open to the network"));
  CHECK(HttpRequest(loopback.Port(), "GET", "/healthz").status == 200);
  CHECK_FALSE(loopback.Process().LogContains("plain HTTP is open to the network"));
}

TEST_CASE("iot-api: ambiguous HTTP framing gets 400 and a closed connection (RFC 9112)",
          "[integration][api][framing]") {
  ApiProcess api;
  INFO(api.Log());
  const std::string post = "POST /api/v1/products HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  for (const std::string& request : {
           // A Transfer-Encoding whose last coding is not chunked, or any coding but chunked.
           post + "Transfer-Encoding: gzip\r\n\r\n",
           post + "Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
           post + "Transfer-Encoding: chunked, gzip\r\nContent-Length: 2\r\n\r\n{}",
           post + "Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
           post + "Transfer-Encoding: identity\r\n\r\n",
           post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
           // Host missing (HTTP/1.1) or twice.
           std::string("GET /healthz HTTP/1.1\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
           std::string("GET /healthz HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"),
           // obs-fold: a field continued on the next line.
           std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"),
           std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n"),
       }) {
    INFO(request);
    RawConnection raw(api.Port());
    // A second request pipelined behind the bad one must not be answered.
    REQUIRE(raw.Send(request + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto response = raw.ReadResponse();
    CHECK(response.status == 400);
    CHECK(response.Header("content-type") == "application/problem+json");
    CHECK(response.Header("connection") == "close");
    CHECK(raw.WaitForClose(std::chrono::seconds(5)));
    CHECK(raw.Received().find("HTTP/1.1 200") == std::string::npos);
  }
  // Well-framed requests still work: chunked alone, HTTP/1.0 without Host, a plain GET.
  RawConnection chunked(api.Port());
  REQUIRE(
      chunked.Send("POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "2\r\n{}\r\n0\r\n\r\n"));
  CHECK(chunked.ReadResponse().status == 405);
  RawConnection old(api.Port());
  REQUIRE(old.Send("GET /healthz HTTP/1.0\r\n\r\n"));
  CHECK(old.ReadResponse().status == 200);
  CHECK(HttpRequest(api.Port(), "GET", "/healthz").status == 200);
}

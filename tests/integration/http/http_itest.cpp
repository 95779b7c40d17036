// libs/http for real: the server as the gateway uses it (few GET endpoints, everything bounded), checked
// with the tests' own HTTP client and raw sockets; the client against that server and against iot-api's
// HTTPS listener (the certificate's chain and host name are verified).

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "api/api_process.hpp"
#include "iot/http/client.hpp"
#include "iot/http/server.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/process.hpp"

using namespace std::chrono_literals;

namespace {

struct Served {
  explicit Served(iot::http::ServerLimits limits = {}) : server(limits) {
    server.Get("/metrics", [this] {
      ++calls;
      return iot::http::Reply{200, "text/plain; version=0.0.4", "up 1\n"};
    });
    server.Get("/readyz", [this] { return iot::http::Reply{ready ? 200 : 503, "text/plain", "r\n"}; });
    server.Get("/slow", [] {
      std::this_thread::sleep_for(1500ms);
      return iot::http::Reply{200, "text/plain", "late\n"};
    });
    std::string error;
    REQUIRE(server.Start("127.0.0.1", 0, error));
    REQUIRE(server.Port() > 0);
  }
  iot::http::Server server;
  std::atomic<int> calls{0};
  std::atomic<bool> ready{true};
};

// A key and a self-signed certificate for 127.0.0.1 (`san` its subjectAltName), files under `base`.
void MakeCertificate(const std::string& base, const std::string& san) {
  REQUIRE(iot::testing::RunShell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                                 "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=" +
                                     san + " -keyout '" + base + ".key' -out '" + base + ".crt'",
                                 base + ".openssl.log") == 0);
}

}  // namespace

TEST_CASE("HTTP server: GET and HEAD on its paths, 404 elsewhere, 405 for other methods",
          "[integration][http]") {
  Served s;
  auto metrics = iot::testing::HttpRequest(s.server.Port(), "GET", "/metrics?name[]=up");
  CHECK(metrics.status == 200);
  CHECK(metrics.body == "up 1\n");
  CHECK(metrics.Header("content-type") == "text/plain; version=0.0.4");
  CHECK(metrics.Header("connection") == "close");
  CHECK(iot::testing::HttpRequest(s.server.Port(), "GET", "/readyz").status == 200);
  s.ready = false;
  CHECK(iot::testing::HttpRequest(s.server.Port(), "GET", "/readyz").status == 503);
  CHECK(iot::testing::HttpRequest(s.server.Port(), "GET", "/metricsx").status == 404);
  CHECK(iot::testing::HttpRequest(s.server.Port(), "GET", "/").status == 404);
  auto post = iot::testing::HttpRequest(s.server.Port(), "POST", "/metrics", {}, "x");
  CHECK(post.status == 405);
  CHECK(post.Header("allow") == "GET, HEAD");

  // HEAD: the GET's headers, no body; and HTTP/1.0 is answered in HTTP/1.0 (what the old server spoke).
  iot::testing::RawConnection head(s.server.Port());
  REQUIRE(head.Send("HEAD /metrics HTTP/1.0\r\n\r\n"));
  CHECK(head.WaitForClose(5s));
  CHECK(head.Received().starts_with("HTTP/1.0 200 OK\r\n"));
  CHECK(head.Received().find("Content-Length: 5\r\n") != std::string::npos);
  CHECK(head.Received().ends_with("\r\n\r\n"));
  CHECK(s.calls == 2);
}

TEST_CASE("HTTP server: bounded - oversize head 431, a body 413, garbage 400, silence closed",
          "[integration][http]") {
  iot::http::ServerLimits limits;
  limits.read_timeout = 300ms;
  Served s(limits);
  const int port = s.server.Port();

  auto big = iot::testing::HttpRequest(port, "GET", "/metrics", {{"X-Big", std::string(9000, 'h')}});
  CHECK(big.status == 431);
  auto body = iot::testing::HttpRequest(port, "GET", "/metrics", {}, std::string(4096, 'b'));
  CHECK(body.status == 413);
  iot::testing::RawConnection garbage(port);
  REQUIRE(garbage.Send("\x01\x02 nonsense\r\n\r\n"));
  CHECK(garbage.WaitForClose(5s));
  CHECK(garbage.Received().starts_with("HTTP/1.1 400 "));

  // Half a request, then silence: closed after the read timeout, without an answer.
  iot::testing::RawConnection silent(port);
  REQUIRE(silent.Send("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
  CHECK(silent.WaitForClose(5s));
  CHECK(silent.Received().empty());
}

TEST_CASE("HTTP server: connections over the limit are closed at accept, and served again once others go",
          "[integration][http]") {
  iot::http::ServerLimits limits;
  limits.read_timeout = 10s;
  limits.max_connections = 4;
  Served s(limits);
  const int port = s.server.Port();
  std::vector<std::unique_ptr<iot::testing::RawConnection>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<iot::testing::RawConnection>(port));
    REQUIRE(held.back()->Send("GET /metrics HTTP/1.1\r\n"));  // unfinished: the connection stays open
  }
  // Accepted after the four (the kernel's accept queue is FIFO): closed without a word.
  iot::testing::RawConnection refused(port);
  CHECK(refused.WaitForClose(5s));
  CHECK(refused.Received().empty());
  held.clear();
  CHECK(iot::testing::PollUntil(
      [&] {
        try {
          return iot::testing::HttpRequest(port, "GET", "/metrics").status == 200;
        } catch (const std::exception&) {
          return false;  // still closed at accept
        }
      },
      5s, 50ms));
  CHECK(s.calls >= 1);
}

TEST_CASE("HTTP server: a busy port is refused with the reason, Stop is prompt and idempotent",
          "[integration][http]") {
  Served s;
  iot::http::Server second;
  std::string error;
  CHECK_FALSE(second.Start("127.0.0.1", s.server.Port(), error));
  CHECK_THAT(error, Catch::Contains("in use"));
  CHECK_FALSE(second.Start("localhost", 0, error));
  CHECK_THAT(error, Catch::Contains("not an IP address"));
  iot::testing::RawConnection open(s.server.Port());
  REQUIRE(open.Send("GET /metrics HTTP/1.1\r\n"));
  s.server.Stop();  // closes the open connection too
  s.server.Stop();
  CHECK(open.WaitForClose(5s));
}

TEST_CASE("HTTP client: status and body, bounded in time and size, failures name their stage",
          "[integration][http]") {
  Served s;
  const auto url = iot::http::ParseUrl("http://127.0.0.1:" + std::to_string(s.server.Port()));
  auto r = iot::http::Request(url, "GET", "/metrics", {}, "");
  CHECK(r.status == 200);
  CHECK(r.body == "up 1\n");
  CHECK(iot::http::Request(url, "GET", "/nothing", {}, "").status == 404);

  iot::http::ClientOptions quick;
  quick.timeout = 300ms;
  CHECK_THROWS_WITH(iot::http::Request(url, "GET", "/slow", {}, "", quick),
                    Catch::Contains("timeout while reading the response"));
  iot::http::ClientOptions small;
  small.max_body_bytes = 2;
  CHECK_THROWS_WITH(iot::http::Request(url, "GET", "/metrics", {}, "", small),
                    Catch::Contains("reading the response"));
  const int closed = iot::testing::FreePort();
  CHECK_THROWS_WITH(iot::http::Request(iot::http::ParseUrl("http://127.0.0.1:" + std::to_string(closed)),
                                       "GET", "/", {}, ""),
                    Catch::Contains("connecting to 127.0.0.1:" + std::to_string(closed)));
}

TEST_CASE("HTTP client: HTTPS to iot-api - verified with the CA file, refused without it or for another name",
          "[integration][http][tls]") {
  const std::string dir = iot::testing::MakeTempDir("http-tls");
  MakeCertificate(dir + "/ip", "IP:127.0.0.1");
  MakeCertificate(dir + "/other", "DNS:elsewhere.example");
  const int https_port = iot::testing::FreePort();
  iot::api::itest::ApiProcess api(iot::api::itest::Env{{"IOT_TLS_CERT", dir + "/ip.crt"},
                                                       {"IOT_TLS_KEY", dir + "/ip.key"},
                                                       {"IOT_HTTPS_PORT", std::to_string(https_port)}});
  INFO(api.Log());
  REQUIRE(iot::testing::WaitForPort(https_port, 20s));
  const auto url = iot::http::ParseUrl("https://127.0.0.1:" + std::to_string(https_port));
  iot::http::ClientOptions trusted;
  trusted.ca_file = dir + "/ip.crt";
  auto r = iot::http::Request(url, "GET", "/healthz", {}, "", trusted);
  CHECK(r.status == 200);
  CHECK(r.body == R"({"status":"ok"})");
  auto products =
      iot::http::Request(url, "GET", "/api/v1/products",
                         {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}}, "", trusted);
  CHECK(products.status == 200);

  // The system's CAs do not know this certificate; a CA for another name does not vouch for this host.
  CHECK_THROWS_WITH(iot::http::Request(url, "GET", "/healthz", {}, ""),
                    Catch::Contains("TLS handshake") && Catch::Contains("certificate"));
  iot::http::ClientOptions other;
  other.ca_file = dir + "/other.crt";
  CHECK_THROWS_WITH(iot::http::Request(url, "GET", "/healthz", {}, "", other),
                    Catch::Contains("TLS handshake"));
  iot::http::ClientOptions missing;
  missing.ca_file = dir + "/none.crt";
  CHECK_THROWS_WITH(iot::http::Request(url, "GET", "/healthz", {}, "", missing),
                    Catch::Contains("cannot use the CA file"));
  // Plain HTTP to the TLS port, and HTTPS to the plain one, fail instead of hanging.
  CHECK_THROWS(iot::http::Request(iot::http::ParseUrl("https://127.0.0.1:" + std::to_string(api.Port())),
                                  "GET", "/healthz", {}, "", trusted));
  iot::http::ClientOptions quick;
  quick.timeout = 5s;
  CHECK_THROWS(iot::http::Request(iot::http::ParseUrl("http://127.0.0.1:" + std::to_string(https_port)),
                                  "GET", "/healthz", {}, "", quick));
}

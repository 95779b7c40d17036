// The web console's static files served by the real iot-api binary (IOT_WEB_DIR): content types,
// cache headers, the SPA fallback, and refused path traversal.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "api_process.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/process.hpp"

namespace {

using iot::api::itest::ApiProcess;
using iot::api::itest::Env;
using iot::testing::HttpRequest;

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

const std::string kIndex = "<!doctype html><title>console</title><div id=app></div>";
const std::string kScript = "console.log('hashed asset');";

// A built console as Vite lays it out, plus files that must never be served.
std::string MakeWebDir() {
  const std::string dir = iot::testing::MakeTempDir("web");
  Write(dir + "/index.html", kIndex);
  Write(dir + "/assets/index-AbC123.js", kScript);
  Write(dir + "/assets/index-AbC123.css", "body{margin:0}");
  Write(dir + "/logo.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>");
  Write(dir + "/.build-stamp", "secret-stamp");
  std::filesystem::create_symlink("/etc/passwd", dir + "/passwd.txt");
  return dir;
}

}  // namespace

TEST_CASE("Console: files with their content types and cache headers", "[integration][api][console]") {
  ApiProcess api(Env{{"IOT_WEB_DIR", MakeWebDir()}});
  INFO(api.Log());

  auto index = HttpRequest(api.Port(), "GET", "/");
  REQUIRE(index.status == 200);
  CHECK(index.body == kIndex);
  CHECK(index.Header("content-type") == "text/html; charset=utf-8");
  CHECK(index.Header("cache-control") == "no-cache");
  CHECK(index.Header("x-content-type-options") == "nosniff");
  CHECK(index.Header("content-security-policy").find("default-src 'self'") != std::string::npos);

  auto script = HttpRequest(api.Port(), "GET", "/assets/index-AbC123.js");
  REQUIRE(script.status == 200);
  CHECK(script.body == kScript);
  CHECK(script.Header("content-type") == "text/javascript; charset=utf-8");
  CHECK(script.Header("cache-control") == "public, max-age=31536000, immutable");
  CHECK(HttpRequest(api.Port(), "GET", "/assets/index-AbC123.css").Header("content-type") ==
        "text/css; charset=utf-8");
  auto svg = HttpRequest(api.Port(), "GET", "/logo.svg");
  CHECK(svg.status == 200);
  CHECK(svg.Header("content-type") == "image/svg+xml");
  CHECK(svg.Header("cache-control") == "no-cache");
}

TEST_CASE("Console: client-side routes get index.html and API paths stay API",
          "[integration][api][console]") {
  ApiProcess api(Env{{"IOT_WEB_DIR", MakeWebDir()}});
  INFO(api.Log());
  for (const char* route : {"/products", "/products/a1B2c3/devices/lamp-1", "/products/x/model?tab=1"}) {
    auto r = HttpRequest(api.Port(), "GET", route);
    INFO(route);
    CHECK(r.status == 200);
    CHECK(r.body == kIndex);
  }
  // Missing files are 404, not the page (a browser would otherwise run HTML as a script).
  for (const char* missing : {"/assets/gone-123.js", "/assets/sub", "/favicon.ico", "/a/b.png"}) {
    auto r = HttpRequest(api.Port(), "GET", missing);
    INFO(missing);
    CHECK(r.status == 404);
    CHECK(r.body != kIndex);
  }
  // Unknown API paths keep the API's problem answers; the API keeps its token check.
  auto unknown = HttpRequest(api.Port(), "GET", "/api/v1/no-such-thing");
  CHECK(unknown.status == 404);
  CHECK(unknown.Header("content-type") == "application/problem+json");
  CHECK(HttpRequest(api.Port(), "GET", "/api/v1/products").status == 401);
  CHECK(HttpRequest(api.Port(), "GET", "/healthz").status == 200);
  // Only GET reaches the console: other methods on unknown paths are the API's 404.
  auto post = HttpRequest(api.Port(), "POST", "/products", {{"Content-Type", "application/json"}}, "{}");
  CHECK(post.status == 404);
  CHECK(post.body != kIndex);
}

TEST_CASE("Console: path traversal, dot files and links are refused", "[integration][api][console]") {
  ApiProcess api(Env{{"IOT_WEB_DIR", MakeWebDir()}});
  INFO(api.Log());
  for (const char* target :
       {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2f..%2fetc%2fpasswd",
        "/%2fetc%2fpasswd", "/assets/%2e%2e%5c%2e%2e%5cetc%5cpasswd", "/passwd.txt", "/.build-stamp",
        "/assets/.%2e/index.html", "//etc/passwd"}) {
    auto r = HttpRequest(api.Port(), "GET", target);
    INFO(target << " -> " << r.status);
    CHECK((r.status == 400 || r.status == 404));
    CHECK(r.body.find("root:") == std::string::npos);
    CHECK(r.body.find("secret-stamp") == std::string::npos);
  }
}

TEST_CASE("Console: a missing build says where it was looked for", "[integration][api][console]") {
  ApiProcess api(Env{{"IOT_WEB_DIR", "/nonexistent/iot-web"}});
  INFO(api.Log());
  auto r = HttpRequest(api.Port(), "GET", "/");
  CHECK(r.status == 404);
  CHECK(r.body.find("/nonexistent/iot-web") != std::string::npos);
  CHECK(HttpRequest(api.Port(), "GET", "/healthz").status == 200);
}

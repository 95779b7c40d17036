// The web console's file set (handlers/console) and the router fallback that serves it.
#include "handlers/console.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "config.hpp"
#include "http/problem.hpp"
#include "http/router.hpp"

namespace {

namespace fs = std::filesystem;
using iot::api::ConsoleFiles;
using iot::api::Request;
using iot::api::Respond;
using iot::api::Response;

std::string TempDir() {
  static int n = 0;
  const fs::path dir = fs::temp_directory_path() /
                       ("iot-console-test-" + std::to_string(::getpid()) + "-" + std::to_string(n++));
  fs::remove_all(dir);
  fs::create_directories(dir / "assets");
  return dir.string();
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

Response Call(const iot::api::Router& router, const std::string& method, const std::string& target) {
  Request request;
  request.method = method;
  request.target = target;
  REQUIRE_FALSE(iot::api::ParseTarget(request));
  Response out;
  out.status = 0;
  router.Dispatch(std::move(request), Respond([&](Response&& r) { out = std::move(r); }));
  return out;
}

std::string Header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return "";
}

}  // namespace

TEST_CASE("Console: content types by extension", "[api][console]") {
  CHECK(ConsoleFiles::ContentType("index.html") == "text/html; charset=utf-8");
  CHECK(ConsoleFiles::ContentType("assets/index-x1.js") == "text/javascript; charset=utf-8");
  CHECK(ConsoleFiles::ContentType("assets/index-x1.css") == "text/css; charset=utf-8");
  CHECK(ConsoleFiles::ContentType("a.svg") == "image/svg+xml");
  CHECK(ConsoleFiles::ContentType("a.woff2") == "font/woff2");
  CHECK(ConsoleFiles::ContentType("README") == "application/octet-stream");
  CHECK(ConsoleFiles::ContentType("dir.js/file") == "application/octet-stream");
}

TEST_CASE("Console: loads regular files only and a missing directory as empty", "[api][console]") {
  const std::string dir = TempDir();
  Write(dir + "/index.html", "<html>");
  Write(dir + "/assets/app-1.js", "js");
  Write(dir + "/.build-stamp", "stamp");
  fs::create_symlink("/etc/hostname", dir + "/link.txt");
  const auto files = ConsoleFiles::Load(dir);
  CHECK(files.Count() == 2);
  REQUIRE(files.Find("index.html") != nullptr);
  CHECK(files.Find("index.html")->body == "<html>");
  CHECK(files.Find("assets/app-1.js") != nullptr);
  CHECK(files.Find(".build-stamp") == nullptr);
  CHECK(files.Find("link.txt") == nullptr);
  CHECK(files.Find("/index.html") == nullptr);
  CHECK(ConsoleFiles::Load(dir + "/missing").Empty());
  fs::remove_all(dir);
}

TEST_CASE("Console: the router falls back to it for unmatched GETs only", "[api][console]") {
  const std::string dir = TempDir();
  Write(dir + "/index.html", "<html>");
  Write(dir + "/assets/app-1.js", "js");
  const auto files = ConsoleFiles::Load(dir);
  iot::api::StaticTokenAuthenticator auth;
  iot::api::Router router(auth);
  router.Add("GET", "/api/v1/things", {.min_role = std::nullopt},
             [](Request&&, Respond respond) { respond(iot::api::JsonResponse(200, "api")); });
  router.Add("POST", "/upload", {.min_role = std::nullopt},
             [](Request&&, Respond respond) { respond(iot::api::JsonResponse(201, "up")); });
  iot::api::AddConsoleRoutes(router, files);

  CHECK(Call(router, "GET", "/api/v1/things").body == "api");
  auto index = Call(router, "GET", "/");
  CHECK(index.status == 200);
  CHECK(index.body == "<html>");
  CHECK(Header(index, "Cache-Control") == "no-cache");
  auto asset = Call(router, "GET", "/assets/app-1.js");
  CHECK(asset.body == "js");
  CHECK(Header(asset, "Cache-Control") == "public, max-age=31536000, immutable");
  CHECK(Call(router, "GET", "/products/p1/devices/d1").body == "<html>");
  CHECK(Call(router, "GET", "/assets/app-2.js").status == 404);
  CHECK(Call(router, "GET", "/api/v1/unknown").content_type == "application/problem+json");
  CHECK(Call(router, "GET", "/upload").status == 405);  // a known path keeps its 405
  CHECK(Call(router, "DELETE", "/somewhere").status == 404);
  CHECK(Call(router, "DELETE", "/somewhere").body != "<html>");
  fs::remove_all(dir);
}

TEST_CASE("Console: IOT_WEB_DIR and webDir pick the directory", "[api][console]") {
  auto none = [](const char*) -> const char* { return nullptr; };
  CHECK_FALSE(iot::api::LoadConfig("", none).web_dir.empty());
  auto env = [](const char* name) -> const char* {
    return std::string(name) == "IOT_WEB_DIR" ? "/srv/iot-web" : nullptr;
  };
  CHECK(iot::api::LoadConfig("", env).web_dir == "/srv/iot-web");
}

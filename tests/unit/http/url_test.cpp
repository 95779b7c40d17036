#include <stdexcept>

#include <catch2/catch.hpp>

#include "iot/http/client.hpp"

TEST_CASE("HTTP client: URLs - http and https, ports, IPv6, a base path, anything else refused",
          "[http][url]") {
  auto a = iot::http::ParseUrl("https://api.example.com/iot/");
  CHECK(a.tls);
  CHECK(a.host == "api.example.com");
  CHECK(a.port == "443");
  CHECK(a.base_path == "/iot");
  auto b = iot::http::ParseUrl("http://[::1]:8080");
  CHECK_FALSE(b.tls);
  CHECK(b.host == "::1");
  CHECK(b.port == "8080");
  CHECK(b.base_path.empty());
  CHECK(iot::http::ParseUrl("http://h").port == "80");
  for (const char* bad : {"ftp://h", "h:80", "http://", "http://h:", "http://h:x1", "http://h:70000",
                          "http://u@h", "http://[::1", "http://[::1]x"}) {
    INFO(bad);
    CHECK_THROWS_AS(iot::http::ParseUrl(bad), std::invalid_argument);
  }
}

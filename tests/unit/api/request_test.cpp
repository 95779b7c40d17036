#include "http/request.hpp"

#include <catch2/catch.hpp>

namespace {

iot::api::Request Parse(const std::string& target, std::optional<std::string>* error = nullptr) {
  iot::api::Request request;
  request.target = target;
  auto e = iot::api::ParseTarget(request);
  if (error != nullptr) {
    *error = e;
  }
  return request;
}

}  // namespace

TEST_CASE("ParseTarget: decodes segments and query, keeps encoded slashes inside a segment",
          "[api][request]") {
  auto r = Parse("/api/v1/products/a%2Fb/devices/x%20y?search=a+b&tag=k%3Av&tag=z");
  CHECK(r.segments == std::vector<std::string>{"api", "v1", "products", "a/b", "devices", "x y"});
  CHECK(r.path == "/api/v1/products/a/b/devices/x y");
  CHECK(r.Query("search") == "a b");
  CHECK(r.query.count("tag") == 2);
  CHECK(r.query.find("tag")->second == "k:v");
  CHECK(Parse("/").segments.empty());
  CHECK(Parse("/a/").segments == std::vector<std::string>{"a", ""});
}

TEST_CASE("ParseTarget: refuses NUL, control bytes, dot segments, bad escapes, absolute-form",
          "[api][request]") {
  for (const char* target : {"/a/%00", "/a/b%0a", "/a/../b", "/a/%2e%2e/b", "/a/./b", "/a/%2E", "/a/%zz",
                             "/a/%2", "/a?x=%00", "/a?x=%", "http://host/a", "*", ""}) {
    INFO(target);
    std::optional<std::string> error;
    Parse(target, &error);
    CHECK(error.has_value());
  }
  std::optional<std::string> error;
  Parse("/a/..b/c.d/%27%3B--", &error);  // dots inside names and SQL metacharacters are just text
  CHECK_FALSE(error);
}

TEST_CASE("ParseTarget: takes every byte Beast's parser passes, not only RFC 3986's characters",
          "[api][request]") {
  // The contract the hand-written parser keeps (request.cpp says why Boost.URL does not parse here):
  // raw | { } " ^ ` and UTF-8 bytes are text, '+' is a space in the query, a fragment is dropped.
  std::optional<std::string> error;
  auto r = Parse("/api/v1/products/a|b/devices?name=%E6%B8%A9{x}&raw=\xE6\xB8\xA9\"^`&q=a+b#frag", &error);
  REQUIRE_FALSE(error);
  CHECK(r.segments == std::vector<std::string>{"api", "v1", "products", "a|b", "devices"});
  CHECK(r.Query("name") == "\xE6\xB8\xA9{x}");
  CHECK(r.Query("raw") == "\xE6\xB8\xA9\"^`");
  CHECK(r.Query("q") == "a b");
  CHECK(r.query.size() == 3);
}

TEST_CASE("RedactedTarget: hides token query values only", "[api][request]") {
  CHECK(iot::api::RedactedTarget("/api/v1/stream?token=s3cret&x=1") == "/api/v1/stream?token=REDACTED&x=1");
  CHECK(iot::api::RedactedTarget("/a?x=1&%74oken=s3cret") == "/a?x=1&%74oken=REDACTED");
  CHECK(iot::api::RedactedTarget("/a?tokens=1") == "/a?tokens=1");
  CHECK(iot::api::RedactedTarget("/a") == "/a");
}

TEST_CASE("Respond: answers once and a dropped request gets a 500", "[api][request]") {
  std::vector<int> seen;
  {
    iot::api::Respond respond([&](iot::api::Response&& r) { seen.push_back(r.status); });
    auto copy = respond;
    copy(iot::api::Response{.status = 201});
    respond(iot::api::Response{.status = 200});
  }
  CHECK(seen == std::vector<int>{201});
  {
    iot::api::Respond respond([&](iot::api::Response&& r) { seen.push_back(r.status); });
    auto observed = respond.Then([&](const iot::api::Response& r) { seen.push_back(-r.status); });
  }
  CHECK(seen == std::vector<int>{201, -500, 500});
}

TEST_CASE("ClientAddress: X-Forwarded-For only from a trusted proxy, nearest untrusted hop",
          "[api][request]") {
  iot::api::Request r;
  r.remote_address = "10.0.0.5:4242";
  r.headers = {{"x-forwarded-for", "1.2.3.4, 192.0.2.9"}, {"x-forwarded-for", "198.51.100.7"}};
  CHECK(iot::api::ClientAddress(r, {}) == "10.0.0.5");
  CHECK(iot::api::ClientAddress(r, {"10.0.0.9"}) == "10.0.0.5");
  CHECK(iot::api::ClientAddress(r, {"10.0.0.5"}) == "198.51.100.7");
  // A client cannot hide behind an address it forges on the left: the nearest untrusted hop counts.
  CHECK(iot::api::ClientAddress(r, {"10.0.0.5", "198.51.100.7"}) == "192.0.2.9");
  r.headers.clear();
  CHECK(iot::api::ClientAddress(r, {"10.0.0.5"}) == "10.0.0.5");
  r.remote_address = "::1:5000";
  CHECK(iot::api::ClientAddress(r, {}) == "::1");
}

TEST_CASE("Trusted proxies: addresses and CIDR networks", "[api][request]") {
  using iot::api::IsTrustedProxy;
  const std::vector<std::string> trusted = {"192.0.2.1", "172.16.0.0/12", "fd00::/8", "10.1.2.128/25"};
  CHECK(IsTrustedProxy("192.0.2.1", trusted));
  CHECK_FALSE(IsTrustedProxy("192.0.2.10", trusted));
  CHECK(IsTrustedProxy("172.16.0.1", trusted));
  CHECK(IsTrustedProxy("172.31.255.254", trusted));
  CHECK_FALSE(IsTrustedProxy("172.32.0.1", trusted));
  CHECK(IsTrustedProxy("10.1.2.200", trusted));
  CHECK_FALSE(IsTrustedProxy("10.1.2.127", trusted));
  CHECK(IsTrustedProxy("fd12::5", trusted));
  CHECK_FALSE(IsTrustedProxy("fe80::1", trusted));
  CHECK_FALSE(IsTrustedProxy("not-an-ip", trusted));
  CHECK_FALSE(IsTrustedProxy("172.16.0.1", {}));
  CHECK(IsTrustedProxy("203.0.113.9", {"0.0.0.0/0"}));
  CHECK(iot::api::ValidProxyEntry("10.0.0.0/8"));
  CHECK(iot::api::ValidProxyEntry("::1"));
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "::/129", "example.com", "10.0.0.0/8/1", ""}) {
    INFO(bad);
    CHECK_FALSE(iot::api::ValidProxyEntry(bad));
  }
  // Behind a proxy of a trusted network, X-Forwarded-For names the client.
  iot::api::Request r;
  r.remote_address = "172.18.0.5:4242";
  r.headers = {{"x-forwarded-for", "198.51.100.7"}};
  CHECK(iot::api::ClientAddress(r, {"172.16.0.0/12"}) == "198.51.100.7");
}

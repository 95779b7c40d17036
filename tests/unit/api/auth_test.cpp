#include "http/auth.hpp"

#include <catch2/catch.hpp>

TEST_CASE("StaticTokenAuthenticator: finds tokens by hash, nothing else", "[api][auth]") {
  iot::api::StaticTokenAuthenticator auth;
  auth.Add("admin-secret-token", {.name = "root", .role = iot::api::Role::kAdmin});
  auth.Add("viewer-secret-token", {.name = "eve", .role = iot::api::Role::kViewer});
  auto admin = auth.Find("admin-secret-token");
  REQUIRE(admin);
  CHECK(admin->name == "root");
  CHECK(admin->role == iot::api::Role::kAdmin);
  CHECK(auth.Find("viewer-secret-token")->role == iot::api::Role::kViewer);
  CHECK_FALSE(auth.Find("admin-secret-toke"));
  CHECK_FALSE(auth.Find(""));

  std::optional<iot::api::Principal> got;
  auth.Authenticate("viewer-secret-token", "127.0.0.1", [&](iot::api::AuthResult r) { got = r.principal; });
  CHECK(got->name == "eve");
}

TEST_CASE("ChainAuthenticator: falls through to the second", "[api][auth]") {
  iot::api::StaticTokenAuthenticator first;
  iot::api::StaticTokenAuthenticator second;
  first.Add("one", {.name = "a", .role = iot::api::Role::kAdmin});
  second.Add("two", {.name = "b", .role = iot::api::Role::kOperator});
  iot::api::ChainAuthenticator chain(first, second);
  std::optional<iot::api::Principal> got;
  chain.Authenticate("two", "127.0.0.1", [&](iot::api::AuthResult r) { got = r.principal; });
  CHECK(got->name == "b");
  chain.Authenticate("three", "127.0.0.1", [&](iot::api::AuthResult r) { got = r.principal; });
  CHECK_FALSE(got);
}

TEST_CASE("Auth: bearer parsing, role order and names", "[api][auth]") {
  CHECK(iot::api::BearerToken("Bearer abc") == "abc");
  CHECK(iot::api::BearerToken("bearer   abc ") == "abc");
  CHECK(iot::api::BearerToken("Basic abc").empty());
  CHECK(iot::api::BearerToken("Bearer").empty());
  CHECK(iot::api::Role::kAdmin > iot::api::Role::kOperator);
  CHECK(iot::api::Role::kOperator > iot::api::Role::kViewer);
  CHECK(iot::api::ParseRole("operator") == iot::api::Role::kOperator);
  CHECK_FALSE(iot::api::ParseRole("root"));
  CHECK(iot::api::RoleName(iot::api::Role::kViewer) == "viewer");
  CHECK(iot::api::HashToken("abc") != iot::api::HashToken("abd"));
}

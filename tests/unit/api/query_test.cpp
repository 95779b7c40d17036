#include "http/query.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "http/problem.hpp"

namespace {

iot::api::Request WithTarget(const std::string& target) {
  iot::api::Request request;
  request.target = target;
  REQUIRE_FALSE(iot::api::ParseTarget(request));
  return request;
}

int StatusOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const iot::api::ApiError& e) {
    return e.status;
  }
  return 0;
}

}  // namespace

TEST_CASE("ListParams: defaults, limits and time ranges", "[api][query]") {
  auto defaults = iot::api::ParseListParams(WithTarget("/x"), true);
  CHECK(defaults.limit == 50);
  CHECK_FALSE(defaults.cursor);
  CHECK(defaults.order == iot::api::SortOrder::kDesc);

  auto full = iot::api::ParseListParams(WithTarget("/x?limit=1000&cursor=abc&from=10&to=20&order=asc"), true);
  CHECK(full.limit == 1000);
  CHECK(*full.cursor == "abc");
  CHECK(*full.from == 10);
  CHECK(*full.to == 20);
  CHECK(full.order == iot::api::SortOrder::kAsc);

  CHECK(StatusOf([] { iot::api::ParseListParams(WithTarget("/x?limit=1001")); }) == 400);
  CHECK(StatusOf([] { iot::api::ParseListParams(WithTarget("/x?limit=0")); }) == 400);
  CHECK(StatusOf([] { iot::api::ParseListParams(WithTarget("/x?limit=5x")); }) == 400);
  CHECK(StatusOf([] { iot::api::ParseListParams(WithTarget("/x?order=up"), true); }) == 400);
  CHECK(StatusOf([] { iot::api::ParseListParams(WithTarget("/x?from=5&to=1"), true); }) == 400);
  try {
    iot::api::ParseListParams(WithTarget("/x?limit=-1&from=a&order=sideways"), true);
    FAIL("expected 400");
  } catch (const iot::api::ApiError& e) {
    CHECK(e.errors.size() == 3);  // all problems at once
  }
}

TEST_CASE("Cursor: round trip, and any tampering is a 400", "[api][query][cursor]") {
  const std::string cursor = iot::api::EncodeCursor("devices", {{"after", "dev-01"}, {"ts", 1700000000000}});
  CHECK(cursor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
        std::string::npos);
  auto fields = iot::api::DecodeCursor("devices", cursor);
  CHECK(fields["after"] == "dev-01");
  CHECK(fields["ts"] == 1700000000000);
  CHECK_FALSE(fields.contains("k"));

  CHECK(StatusOf([&] { iot::api::DecodeCursor("products", cursor); }) == 400);  // another list's cursor
  CHECK(StatusOf([&] { iot::api::DecodeCursor("devices", cursor.substr(1)); }) == 400);
  CHECK(StatusOf([&] { iot::api::DecodeCursor("devices", cursor + "!"); }) == 400);
  CHECK(StatusOf([] { iot::api::DecodeCursor("devices", iot::api::Base64UrlEncode("[1,2]")); }) == 400);
  CHECK(StatusOf([] { iot::api::DecodeCursor("devices", ""); }) == 400);
}

TEST_CASE("Base64Url: matches RFC 4648 vectors without padding", "[api][query]") {
  CHECK(iot::api::Base64UrlEncode("") == "");
  CHECK(iot::api::Base64UrlEncode("f") == "Zg");
  CHECK(iot::api::Base64UrlEncode("fo") == "Zm8");
  CHECK(iot::api::Base64UrlEncode("foo") == "Zm9v");
  CHECK(iot::api::Base64UrlEncode("foob") == "Zm9vYg");
  CHECK(iot::api::Base64UrlEncode("\xfb\xff") == "-_8");
  CHECK(*iot::api::Base64UrlDecode("Zm9vYg") == "foob");
  CHECK(*iot::api::Base64UrlDecode("-_8") == "\xfb\xff");
  CHECK_FALSE(iot::api::Base64UrlDecode("Zh"));  // non-zero leftover bits
  CHECK_FALSE(iot::api::Base64UrlDecode("Z"));
  CHECK_FALSE(iot::api::Base64UrlDecode("Zm9v="));
}

TEST_CASE("Base64Url: refuses padding, the standard alphabet and anything else outside the url one",
          "[api][query]") {
  // Round trips over every length and byte value of a group, with the alphabet's last characters.
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes.push_back(static_cast<char>(255 - i));
    const std::string encoded = iot::api::Base64UrlEncode(bytes);
    CHECK(encoded.find_first_of("+/=") == std::string::npos);
    const auto decoded = iot::api::Base64UrlDecode(encoded);
    REQUIRE(decoded);
    CHECK(*decoded == bytes);
  }
  CHECK(*iot::api::Base64UrlDecode("") == "");
  CHECK(*iot::api::Base64UrlDecode("Zm9v") == "foo");
  CHECK(*iot::api::Base64UrlDecode("Zg") == "f");
  // Padding, which OpenSSL's decoder would take, in every position.
  for (const char* padded : {"Zg==", "Zm8=", "Zg=", "Z===", "Zm=v", "====", "=Zm9"}) {
    CHECK_FALSE(iot::api::Base64UrlDecode(padded));
  }
  // The standard alphabet's '+' and '/', whitespace, NUL and other bytes.
  for (const std::string& bad : {std::string("+_8"), std::string("-/8"), std::string(" Zm9v"),
                                 std::string("Zm9v "), std::string("Zm 9v"), std::string("Zm9v\n"),
                                 std::string("Zm\0v", 4), std::string("Zm.v"), std::string("Zm9\xff")}) {
    CHECK_FALSE(iot::api::Base64UrlDecode(bad));
  }
  // Non-zero leftover bits in a 3-character tail ("Zm8" is canonical, "Zm9" is not).
  CHECK(iot::api::Base64UrlDecode("Zm8"));
  CHECK_FALSE(iot::api::Base64UrlDecode("Zm9"));
  CHECK_FALSE(iot::api::Base64UrlDecode("Zm9vY"));  // 1 mod 4 after a full group
}

TEST_CASE("ListBody: items and nextCursor (null on the last page)", "[api][query]") {
  CHECK(iot::api::ListBody(nlohmann::json::array({1, 2}), std::nullopt) ==
        R"({"items":[1,2],"nextCursor":null})");
  CHECK(iot::api::ListBody(nlohmann::json::array(), std::string("c")) == R"({"items":[],"nextCursor":"c"})");
}

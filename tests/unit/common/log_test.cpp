#include "iot/common/log.hpp"

#include <catch2/catch.hpp>
#include <chrono>

TEST_CASE("Log: Quote escapes quotes, backslashes and control bytes", "[common][log]") {
  CHECK(iot::log::Quote("plain") == "\"plain\"");
  CHECK(iot::log::Quote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(iot::log::Quote(std::string_view("x\ny\0", 4)) == "\"x\\x0ay\\x00\"");
}

TEST_CASE("Log: ParseLevel accepts the four names only", "[common][log]") {
  iot::log::Level level{};
  CHECK(iot::log::ParseLevel("warn", level));
  CHECK(level == iot::log::Level::kWarn);
  CHECK_FALSE(iot::log::ParseLevel("verbose", level));
}

TEST_CASE("Log: RateLimiter lets one line through per interval and counts the rest", "[common][log]") {
  iot::log::RateLimiter limiter(std::chrono::hours(1));
  long long suppressed = -1;
  REQUIRE(limiter.Allow(suppressed));
  CHECK(suppressed == 0);
  long long ignored = 0;
  CHECK_FALSE(limiter.Allow(ignored));
  CHECK_FALSE(limiter.Allow(ignored));
}

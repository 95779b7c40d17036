#include "iot/common/rate_limiter.hpp"

#include <catch2/catch.hpp>

using iot::DeviceRateLimiter;

TEST_CASE("DeviceRateLimiter: a burst of one second - then the rate", "[common][rate]") {
  DeviceRateLimiter limiter(10);
  int allowed = 0;
  for (int i = 0; i < 30; ++i) {
    allowed += limiter.Allow("pk/a", 1000) ? 1 : 0;
  }
  CHECK(allowed == 10);
  CHECK_FALSE(limiter.Allow("pk/a", 1050));
  CHECK(limiter.Allow("pk/a", 1100));  // 100 ms = one token
  CHECK(limiter.Allow("pk/b", 1100));  // devices are independent
}

TEST_CASE("DeviceRateLimiter: zero disables: the map is bounded", "[common][rate]") {
  DeviceRateLimiter off(0);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(off.Allow("pk/a", 0));
  }
  DeviceRateLimiter bounded(100, 50);
  for (int i = 0; i < 500; ++i) {
    bounded.Allow("pk/d" + std::to_string(i), i * 100);
  }
  CHECK(bounded.Size() <= 50);
}

TEST_CASE("DeviceRateLimiter: an explicit burst, and Exhausted spends nothing", "[common][rate]") {
  iot::DeviceRateLimiter limiter(1.0, 3.0, 100);
  CHECK_FALSE(limiter.Exhausted("a", 0));
  CHECK(limiter.Allow("a", 0));
  CHECK(limiter.Allow("a", 0));
  CHECK(limiter.Allow("a", 0));
  CHECK(limiter.Exhausted("a", 0));
  CHECK(limiter.Exhausted("a", 500));
  CHECK_FALSE(limiter.Exhausted("a", 1000));  // one refilled
  CHECK_FALSE(limiter.Exhausted("b", 0));
}

#include "backoff.hpp"

#include <catch2/catch.hpp>

using iot::device::Backoff;
using namespace std::chrono_literals;

TEST_CASE("Backoff: doubles from min up to max and starts over after Reset", "[device][backoff]") {
  Backoff b(100ms, 1000ms, 0.0);
  CHECK(b.Next() == 100ms);
  CHECK(b.Next() == 200ms);
  CHECK(b.Next() == 400ms);
  CHECK(b.Next() == 800ms);
  CHECK(b.Next() == 1000ms);
  CHECK(b.Next() == 1000ms);
  b.Reset();
  CHECK(b.Next() == 100ms);
}

TEST_CASE("Backoff: jitter stays within the spread and never above max", "[device][backoff]") {
  Backoff b(100ms, 400ms, 0.2, 12345);
  for (int round = 0; round < 50; ++round) {
    b.Reset();
    auto first = b.Next();
    CHECK(first >= 80ms);
    CHECK(first <= 120ms);
    for (int i = 0; i < 10; ++i) {
      CHECK(b.Next() <= 400ms);
    }
  }
}

TEST_CASE("Backoff: devices with different seeds do not retry in lockstep", "[device][backoff]") {
  Backoff a(1000ms, 30000ms, 0.2, 1);
  Backoff b(1000ms, 30000ms, 0.2, 2);
  int same = 0;
  for (int i = 0; i < 5; ++i) {
    same += a.Next() == b.Next() ? 1 : 0;
  }
  CHECK(same < 5);
}

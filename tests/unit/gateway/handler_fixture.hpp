#pragma once

// A Handler over the fake directory (fakes.hpp) with the reference product: what the handler tests
// (Alink and raw) share.

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "fakes.hpp"
#include "handler.hpp"

namespace iot::gateway::testing {

inline constexpr std::int64_t kNow = 1'700'000'000'000;

// Handler settings of the tests of signed download links (remote config, OTA): a high rate limit and a
// public base URL.
inline HandlerSettings LinkSettings() {
  HandlerSettings s;
  s.rate_per_second = 1000;
  s.public_base_url = "https://iot.example:8443";
  return s;
}

struct HandlerFixture {
  explicit HandlerFixture(HandlerSettings settings, tsl::Mode mode = tsl::Mode::kWeak) {
    AddReferenceProduct(source, mode);
    handler = std::make_unique<Handler>(directory, metrics, settings);
  }
  // Handles one message received 5 ms before `now`; REQUIREs the status.
  Work Run(const std::string& topic, const std::string& payload, HandleStatus expect = HandleStatus::kWork,
           std::int64_t now = kNow) {
    Work w;
    REQUIRE(handler->Handle(InboundMessage{topic, payload, now - 5}, now, w) == expect);
    return w;
  }
  FakeSource source;
  CachingDirectory directory{source, CacheSettings{}};
  Metrics metrics;
  std::unique_ptr<Handler> handler;
};

}  // namespace iot::gateway::testing

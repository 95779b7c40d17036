#include <catch2/catch.hpp>

#include "fakes.hpp"
#include "iot/tsl/published.hpp"

namespace gw = iot::gateway;
namespace t = iot::gateway::testing;

TEST_CASE("Directory: caches lookups and reloads after an invalidation", "[gateway][directory]") {
  t::FakeSource source;
  t::AddReferenceProduct(source, iot::tsl::Mode::kWeak);
  std::int64_t now = 0;
  gw::CacheSettings settings;
  settings.ttl = std::chrono::milliseconds(1000);
  gw::CachingDirectory dir(source, settings, [&] { return now; });
  REQUIRE(dir.FindProduct("a1Prod"));
  REQUIRE(dir.FindProduct("a1Prod"));
  CHECK(source.product_loads == 1);
  auto p = dir.FindProduct("a1Prod");
  REQUIRE((*p)->model);
  CHECK((*p)->model->FindProperty("RunCount"));

  source.products["a1Prod"].mode = iot::tsl::Mode::kStrict;
  dir.InvalidateProduct("a1Prod");
  CHECK((*dir.FindProduct("a1Prod"))->mode == iot::tsl::Mode::kStrict);
  CHECK(source.product_loads == 2);

  REQUIRE(dir.FindDevice("a1Prod", "dev1")->enabled);
  source.devices["a1Prod/dev1"].enabled = false;
  CHECK(dir.FindDevice("a1Prod", "dev1")->enabled);  // cached
  dir.InvalidateDevice("a1Prod/dev1");
  CHECK_FALSE(dir.FindDevice("a1Prod", "dev1")->enabled);

  now += 1001;  // TTL safety net
  source.devices["a1Prod/dev1"].enabled = true;
  CHECK(dir.FindDevice("a1Prod", "dev1")->enabled);
}

TEST_CASE("Directory: bounded", "[gateway][directory]") {
  t::FakeSource source;
  for (int i = 0; i < 50; ++i) {
    source.devices["pk/d" + std::to_string(i)] = gw::DeviceEntry{i, true};
  }
  gw::CacheSettings settings;
  settings.max_devices = 10;
  gw::CachingDirectory dir(source, settings);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(dir.FindDevice("pk", "d" + std::to_string(i)).has_value());
  }
  CHECK(dir.DeviceCount() <= 10);
}

TEST_CASE("Directory: unknown and unavailable are different errors", "[gateway][directory]") {
  t::FakeSource source;
  gw::CachingDirectory dir(source, gw::CacheSettings{});
  auto missing = dir.FindDevice("pk", "nobody");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error() == gw::LookupErrc::kNotFound);
  CHECK_FALSE(gw::Unavailable(missing.error()));
  source.unavailable = true;
  auto away = dir.FindDevice("pk", "nobody");
  REQUIRE_FALSE(away.has_value());
  CHECK(away.error() == gw::LookupErrc::kUnavailable);
  CHECK(gw::Unavailable(away.error()));
}

TEST_CASE("Directory: published TSL forms", "[gateway][directory]") {
  const std::string tsl = t::ReadFixture("tsl/valid/minimal.json");
  CHECK(iot::tsl::ParsePublishedModel(tsl));
  CHECK(iot::tsl::ParsePublishedModel("[" + tsl + "]"));
  CHECK(iot::tsl::ParsePublishedModel(R"({"":)" + tsl + "}"));
  std::string error;
  CHECK_FALSE(iot::tsl::ParsePublishedModel("{nope", &error));
  CHECK_FALSE(error.empty());
}

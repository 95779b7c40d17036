#include "iot/catalog/published_products.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "iot/store/errors.hpp"

namespace catalog = iot::catalog;

namespace {

std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// What the store would return, counted.
struct FakeStore {
  std::map<std::string, catalog::PublishedProduct> products;
  int loads = 0;
  std::function<void()> during_load;  // runs inside a load (to race an invalidation with it)
  catalog::PublishedProducts::Loader loader() {
    return [this](std::string_view pk) -> iot::Result<catalog::PublishedProduct> {
      ++loads;
      if (during_load) {
        during_load();
      }
      auto it = products.find(std::string(pk));
      if (it == products.end()) {
        return iot::store::Errc::kNotFound;
      }
      return it->second;
    };
  }
};

catalog::PublishedProduct Published(const std::string& pk, std::string tsl_json, int version = 1) {
  catalog::PublishedProduct p;
  p.product_key = pk;
  p.version = version;
  p.tsl_json = std::move(tsl_json);
  return p;
}

iot::store::Notification Notify(const char* channel, std::string payload) {
  return iot::store::Notification{channel, std::move(payload), false};
}

}  // namespace

TEST_CASE("PublishedProducts: parses once, shares the entry, reloads after a publish is notified",
          "[catalog]") {
  FakeStore store;
  store.products["pk1"] = Published("pk1", ReadFixture("tsl/valid/reference_example.json"));
  catalog::PublishedProducts cache;
  const auto load = store.loader();
  auto first = cache.Find("pk1", load);
  REQUIRE(first);
  REQUIRE((*first)->model);
  CHECK((*first)->model->FindProperty("RunCount"));
  CHECK((*first)->model_error.empty());
  auto second = cache.Find("pk1", load);
  REQUIRE(second);
  CHECK(second->get() == first->get());  // the same parsed model, not a copy
  CHECK(store.loads == 1);

  store.products["pk1"].mode = iot::tsl::Mode::kStrict;
  CHECK(cache.Apply(Notify(iot::store::kChannelThingModel, "pk1")));
  CHECK((*cache.Find("pk1", load))->mode == iot::tsl::Mode::kStrict);
  CHECK(store.loads == 2);

  store.products["pk1"].mode = iot::tsl::Mode::kNone;
  CHECK(cache.Apply(Notify(iot::store::kChannelProduct, "pk1")));
  CHECK((*cache.Find("pk1", load))->mode == iot::tsl::Mode::kNone);
  CHECK(store.loads == 3);

  // Other channels and other products leave it cached; a resync drops everything.
  CHECK_FALSE(cache.Apply(Notify(iot::store::kChannelDevice, "pk1/dev")));
  CHECK(cache.Apply(Notify(iot::store::kChannelProduct, "other")));
  REQUIRE(cache.Find("pk1", load));
  CHECK(store.loads == 3);
  CHECK(cache.Apply(iot::store::Notification{"", "", true}));
  CHECK(cache.Count() == 0);
  REQUIRE(cache.Find("pk1", load));
  CHECK(store.loads == 4);
}

TEST_CASE("PublishedProducts: unpublished, unparsable and unknown products", "[catalog]") {
  FakeStore store;
  catalog::PublishedProduct none;
  none.product_key = "none";
  store.products["none"] = none;
  store.products["broken"] = Published("broken", "{nope");
  catalog::PublishedProducts cache;
  const auto load = store.loader();

  auto unpublished = cache.Find("none", load);
  REQUIRE(unpublished);
  CHECK_FALSE((*unpublished)->model);
  CHECK((*unpublished)->model_error.empty());

  auto broken = cache.Find("broken", load);
  REQUIRE(broken);
  CHECK_FALSE((*broken)->model);
  CHECK_FALSE((*broken)->model_error.empty());

  auto missing = cache.Find("missing", load);
  REQUIRE_FALSE(missing);
  CHECK(iot::store::Is(missing.error(), iot::store::Errc::kNotFound));
  CHECK_FALSE(cache.Find("missing", load));
  CHECK(store.loads == 4);  // errors are not cached
}

TEST_CASE("PublishedProducts: a load that raced a notification is not kept", "[catalog]") {
  FakeStore store;
  store.products["pk1"] = Published("pk1", ReadFixture("tsl/valid/minimal.json"));
  catalog::PublishedProducts cache;
  const auto load = store.loader();
  store.during_load = [&] { cache.Invalidate("pk1"); };  // the publish lands while the row is read
  REQUIRE(cache.Find("pk1", load));
  CHECK(cache.Count() == 0);
  store.during_load = nullptr;
  REQUIRE(cache.Find("pk1", load));
  REQUIRE(cache.Find("pk1", load));
  CHECK(store.loads == 2);
}

TEST_CASE("PublishedProducts: time to live and bound", "[catalog]") {
  FakeStore store;
  for (int i = 0; i < 20; ++i) {
    const std::string pk = "pk" + std::to_string(i);
    store.products[pk] = Published(pk, ReadFixture("tsl/valid/minimal.json"));
  }
  std::int64_t now = 0;
  catalog::CacheSettings settings;
  settings.max_products = 5;
  settings.ttl = std::chrono::milliseconds(1000);
  catalog::PublishedProducts cache(settings, [&] { return now; });
  const auto load = store.loader();
  for (int i = 0; i < 20; ++i) {
    REQUIRE(cache.Find("pk" + std::to_string(i), load));
  }
  CHECK(cache.Count() <= 5);

  const int before = store.loads;
  REQUIRE(cache.Find("pk19", load));
  CHECK(store.loads == before);
  now += 1001;
  REQUIRE(cache.Find("pk19", load));
  CHECK(store.loads == before + 1);
}

TEST_CASE("PublishedProducts: the store's validation modes", "[catalog]") {
  CHECK(catalog::ToTslMode(iot::store::ValidationMode::kNone) == iot::tsl::Mode::kNone);
  CHECK(catalog::ToTslMode(iot::store::ValidationMode::kWeak) == iot::tsl::Mode::kWeak);
  CHECK(catalog::ToTslMode(iot::store::ValidationMode::kStrict) == iot::tsl::Mode::kStrict);
  const auto channels = catalog::PublishedProducts::Channels();
  CHECK(std::find(channels.begin(), channels.end(), iot::store::kChannelProduct) != channels.end());
  CHECK(std::find(channels.begin(), channels.end(), iot::store::kChannelThingModel) != channels.end());
}

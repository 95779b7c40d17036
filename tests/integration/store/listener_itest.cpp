#include "iot/store/devices.hpp"
#include "iot/store/listener.hpp"
#include "iot/store/products.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/testing/env.hpp"
#include "store_fixture.hpp"

using namespace iot::store;
using iot::store::test::Fixture;

TEST_CASE("Listener: resync on connect, then product/model/device notifications", "[store][listener]") {
  Fixture f;
  std::vector<Notification> got;
  Listener listener(DbSettings{.dsn = f.pg.Dsn()},
                    {kChannelProduct, kChannelThingModel, kChannelDevice, kChannelDeviceStatus},
                    [&](const Notification& n) { got.push_back(n); });
  REQUIRE(listener.Poll(std::chrono::milliseconds(10)).has_value());
  REQUIRE(got.size() == 1);
  CHECK(got[0].resync);

  REQUIRE(CreateProduct(f.db, ProductCreate{.product_key = "pk", .name = "P"}).has_value());
  REQUIRE(PutThingModelDraft(f.db, "pk", "", "{}").has_value());
  REQUIRE(PublishThingModel(f.db, "pk", "{}", "").has_value());
  auto d = CreateDevice(f.db, "pk", DeviceCreate{"dev:1", ""}).value();
  REQUIRE(ApplyLifecycle(f.db, LifecycleEvent{d.id, true, 1, 1, ""}).has_value());
  auto has = [&](const char* ch, const std::string& payload) {
    for (const auto& n : got) {
      if (n.channel == ch && n.payload == payload) {
        return true;
      }
    }
    return false;
  };
  REQUIRE(iot::testing::PollUntil([&] {
    (void)listener.Poll(std::chrono::milliseconds(50));
    return has(kChannelDeviceStatus, "pk/dev:1/online");
  }));
  CHECK(has(kChannelProduct, "pk"));
  CHECK(has(kChannelThingModel, "pk"));
  CHECK(has(kChannelDevice, "pk/dev:1"));
}

TEST_CASE("Listener: unreachable server reports kUnavailable and keeps trying", "[store][listener]") {
  Listener listener(DbSettings{.dsn = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=1"},
                    {kChannelProduct}, [](const Notification&) {});
  auto r = listener.Poll(std::chrono::milliseconds(10));
  CHECK(r.has_error());
  CHECK(!listener.IsConnected());
}

// Pure parts of the resource handlers: formats, the store error mapping, cursor wrapping, and the
// new configuration settings.
#include <map>
#include <memory>

#include <catch2/catch.hpp>

#include "config.hpp"
#include "handlers/common.hpp"
#include "iot/store/errors.hpp"

using iot::api::ApiError;

TEST_CASE("Handlers: productKey is 4-32 letters and digits", "[api][handlers]") {
  using iot::api::IsValidProductKey;
  CHECK(IsValidProductKey("a1B2"));
  CHECK(IsValidProductKey(std::string(32, 'x')));
  CHECK_FALSE(IsValidProductKey("abc"));
  CHECK_FALSE(IsValidProductKey(std::string(33, 'x')));
  for (const char* bad : {"ab-cd", "ab cd", "abc'", "../..", "abcd;",
                          "\xc3\xa4"
                          "bcd",
                          "ab%00"}) {
    INFO(bad);
    CHECK_FALSE(IsValidProductKey(bad));
  }
}

TEST_CASE("Handlers: deviceName is 4-32 of letters, digits and -_@.:", "[api][handlers]") {
  using iot::api::IsValidDeviceName;
  CHECK(IsValidDeviceName("dev-1@home.x:y_z"));
  CHECK(IsValidDeviceName("...."));  // dots alone are a legal name: the router never sees "." segments
  CHECK_FALSE(IsValidDeviceName("ab"));
  CHECK_FALSE(IsValidDeviceName(std::string(33, 'd')));
  for (const char* bad : {"dev/1", "dev 1", "dev'1", "dev\"1", "dev\\1", "dev%1", "d\xe2\x9c\x93v"}) {
    INFO(bad);
    CHECK_FALSE(IsValidDeviceName(bad));
  }
}

TEST_CASE("Handlers: store error codes map to HTTP statuses in one place", "[api][handlers][problem]") {
  using iot::store::Errc;
  auto status = [](Errc e) { return iot::api::FromErrorCode(iot::store::make_error_code(e)).status; };
  CHECK(status(Errc::kNotFound) == 404);
  CHECK(status(Errc::kConflict) == 409);
  CHECK(status(Errc::kInvalid) == 400);
  CHECK(status(Errc::kUnavailable) == 503);
  CHECK(status(Errc::kVersionMismatch) == 409);
  CHECK(status(Errc::kInternal) == 500);
  ApiError unavailable = iot::api::FromErrorCode(iot::store::make_error_code(Errc::kUnavailable));
  CHECK(unavailable.headers == std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}});
  // A context replaces the generic detail of 404/409 only.
  CHECK(iot::api::StoreError(iot::store::make_error_code(Errc::kNotFound), "no such product: x").detail ==
        "no such product: x");
  CHECK(iot::api::StoreError(iot::store::make_error_code(Errc::kInternal), "secret detail").detail ==
        "internal error");
}

TEST_CASE("Handlers: store cursors are wrapped per list and refused by other lists", "[api][handlers]") {
  auto wrapped = iot::api::WrapCursor("devices", std::string("42"));
  REQUIRE(wrapped);
  CHECK(iot::api::UnwrapCursor("devices", wrapped) == "42");
  CHECK_FALSE(iot::api::WrapCursor("devices", std::nullopt));
  CHECK(iot::api::UnwrapCursor("devices", std::nullopt).empty());
  CHECK_THROWS_AS(iot::api::UnwrapCursor("products", wrapped), ApiError);
  CHECK_THROWS_AS(iot::api::UnwrapCursor("devices", std::string("not base64 !")), ApiError);
}

TEST_CASE("Config: DB pool, broker probe and maintenance settings", "[api][config]") {
  auto values = std::make_shared<std::map<std::string, std::string>>(
      std::map<std::string, std::string>{{"IOT_PG_POOL_THREADS", "8"},
                                         {"IOT_PG_POOL_QUEUE", "50"},
                                         {"IOT_MQTT_HOST", "broker"},
                                         {"IOT_MQTT_PORT", "1884"},
                                         {"IOT_MAINTENANCE_INTERVAL_S", "0"}});
  auto env = [values](const char* name) -> const char* {
    auto it = values->find(name);
    return it == values->end() ? nullptr : it->second.c_str();
  };
  iot::api::Config config = iot::api::LoadConfig("", env);
  CHECK(config.db_threads == 8);
  CHECK(config.db_queue_capacity == 50);
  CHECK(config.mqtt_host == "broker");
  CHECK(config.mqtt_port == 1884);
  CHECK(config.maintenance_interval_s == 0);

  (*values)["IOT_PG_POOL_THREADS"] = "0";
  (*values)["IOT_MQTT_PORT"] = "70000";
  try {
    iot::api::LoadConfig("", env);
    FAIL("expected ConfigError");
  } catch (const iot::api::ConfigError& e) {
    CHECK(e.Problems().size() == 2);
  }
}

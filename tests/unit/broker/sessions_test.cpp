#include "sessions.hpp"

#include <catch2/catch.hpp>

using iot::broker::Identity;
using iot::broker::Role;
using iot::broker::Sessions;

namespace {
Identity Device(const char* pk, const char* dn) {
  Identity id;
  id.role = Role::kDevice;
  id.product_key = pk;
  id.device_name = dn;
  return id;
}
}  // namespace

TEST_CASE("Sessions: connect then disconnect gives online then offline with rising seq",
          "[broker][sessions]") {
  Sessions sessions;
  int client = 0;
  const auto on = sessions.OnDeviceConnected(&client, "c1|x|", Device("pk01", "dev1"), "10.0.0.1", 1000);
  CHECK(on.online.online);
  CHECK_FALSE(on.kick_client_id);
  CHECK(on.online.client_ip == "10.0.0.1");
  const auto off = sessions.OnDeviceDisconnected(&client, Device("pk01", "dev1"), 1000);
  REQUIRE(off);
  CHECK_FALSE(off->online);
  CHECK(off->seq > on.online.seq);  // same millisecond, still ordered
  CHECK(off->last_time_ms == 1000);
  CHECK(sessions.OnlineDevices() == 0);
}

TEST_CASE("Sessions: a second connection replaces the first and suppresses its offline",
          "[broker][sessions]") {
  Sessions sessions;
  int first = 0, second = 0;
  sessions.OnDeviceConnected(&first, "a|t=1|", Device("pk01", "dev1"), "ip", 1000);
  const auto again = sessions.OnDeviceConnected(&second, "a|t=2|", Device("pk01", "dev1"), "ip", 2000);
  REQUIRE(again.kick_client_id);
  CHECK(*again.kick_client_id == "a|t=1|");
  CHECK_FALSE(sessions.OnDeviceDisconnected(&first, Device("pk01", "dev1"), 2001));
  CHECK(sessions.ClientIdOf("pk01", "dev1") == std::optional<std::string>("a|t=2|"));
  CHECK(sessions.OnDeviceDisconnected(&second, Device("pk01", "dev1"), 3000));
}

TEST_CASE("Sessions: reconnecting with the same client id is left to the broker's takeover",
          "[broker][sessions]") {
  Sessions sessions;
  int first = 0, second = 0;
  sessions.OnDeviceConnected(&first, "same", Device("pk01", "dev1"), "ip", 1000);
  CHECK_FALSE(sessions.OnDeviceConnected(&second, "same", Device("pk01", "dev1"), "ip", 1001).kick_client_id);
  CHECK_FALSE(sessions.OnDeviceDisconnected(&first, Device("pk01", "dev1"), 1002));
}

TEST_CASE("Sessions: only the device's current connection receives, within its downlink limits",
          "[broker][sessions][security]") {
  using iot::broker::Downlink;
  Sessions sessions(iot::broker::DownlinkLimits{1000});
  int parked = 0, current = 0, other = 0;
  const auto me = Device("pk01", "dev1");
  sessions.OnDeviceConnected(&parked, "a|x|", me, "", 1000);
  CHECK(sessions.AllowDownlink(&parked, me, 10, 1000) == Downlink::kAllowed);
  const auto second = sessions.OnDeviceConnected(&current, "b|x|", me, "", 1000);
  CHECK(second.kick_client_id == std::string("a|x|"));
  CHECK(sessions.AllowDownlink(&parked, me, 10, 1000) == Downlink::kNotCurrent);
  CHECK(sessions.AllowDownlink(&other, Device("pk01", "dev2"), 10, 1000) == Downlink::kNotCurrent);
  // Burst: four seconds' worth (4000 bytes), each message costing 256 more than its payload; then the rate.
  int allowed = 0;
  for (int i = 0; i < 50; ++i) {
    allowed += sessions.AllowDownlink(&current, me, 244, 1000) == Downlink::kAllowed;
  }
  CHECK(allowed == 8);
  CHECK(sessions.AllowDownlink(&current, me, 244, 1500) == Downlink::kAllowed);  // 500 ms = 500 bytes
  CHECK(sessions.AllowDownlink(&current, me, 244, 1500) == Downlink::kRateLimited);
  Sessions unlimited(iot::broker::DownlinkLimits{0});
  unlimited.OnDeviceConnected(&current, "b|x|", me, "", 0);
  for (int i = 0; i < 100; ++i) {
    REQUIRE(unlimited.AllowDownlink(&current, me, 1 << 20, 0) == Downlink::kAllowed);
  }
  CHECK(unlimited.AllowDownlink(&parked, me, 1, 0) == Downlink::kNotCurrent);
  // Offline: nothing is delivered to any session of the device.
  sessions.OnDeviceDisconnected(&current, me, 2000);
  CHECK(sessions.AllowDownlink(&current, me, 1, 5000) == Downlink::kNotCurrent);
}

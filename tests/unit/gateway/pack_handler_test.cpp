// thing.event.property.pack.post: the gateway's part and its sub-devices' parts, each against its own
// product, all or nothing.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"

using iot::gateway::Work;
using nlohmann::json;
namespace gw = iot::gateway;
namespace t = iot::gateway::testing;

namespace {

const std::string kPack = "/sys/a1Prod/dev1/thing/event/property/pack/post";

struct Fixture : t::HandlerFixture {
  Fixture() : HandlerFixture(gw::HandlerSettings{}, iot::tsl::Mode::kWeak) {
    source.devices["a1Prod/sub0001"] = gw::DeviceEntry{21, true, "a1Prod", "dev1"};
    source.devices["a1Prod/sub0002"] = gw::DeviceEntry{22, true, "a1Prod", "dev1"};
    source.devices["a1Prod/sub0003"] = gw::DeviceEntry{23, false, "a1Prod", "dev1"};
    source.devices["a1Prod/other001"] = gw::DeviceEntry{24, true, "a1Prod", "dev9"};
  }
  Work Pack(const json& params) {
    return Run(kPack,
               json{{"id", "p1"}, {"params", params}, {"method", "thing.event.property.pack.post"}}.dump());
  }
};

json Sub(const std::string& dn, const json& properties) {
  return {{"identity", {{"productKey", "a1Prod"}, {"deviceName", dn}}}, {"properties", properties}};
}

}  // namespace

TEST_CASE("Pack post: every part stored under its own device", "[gateway][pack]") {
  Fixture f;
  Work w = f.Pack(
      {{"properties", {{"RunCount", 5}}},
       {"subDevices", json::array({Sub("sub0001", {{"RunCount", {{"value", 6}, {"time", 1699999990000}}}}),
                                   Sub("sub0002", {{"RunCount", 7}})})}});
  REQUIRE(w.reply);
  CHECK(w.reply->code == 200);
  CHECK(w.reply->topic == kPack + "_reply");
  REQUIRE(w.telemetry);
  CHECK(w.telemetry->device_id == 11);
  REQUIRE(w.telemetry->properties.size() == 1);
  REQUIRE(w.parts.size() == 2);
  CHECK(w.parts[0].device_id == 21);
  CHECK(w.parts[0].message_id == "p1");
  REQUIRE(w.parts[0].properties.size() == 1);
  CHECK(w.parts[0].properties[0].time == 1699999990000);
  CHECK(w.parts[1].device_id == 22);
}

TEST_CASE("Pack post: any failing part fails the whole post, naming each failure", "[gateway][pack]") {
  Fixture f;
  Work w = f.Pack(
      {{"properties", {{"RunCount", 5}}},
       {"subDevices", json::array({Sub("sub0001", {{"Label", 0}}), Sub("sub0002", {{"RunCount", 7}}),
                                   Sub("other001", {{"RunCount", 1}}), Sub("nosuch01", {{"RunCount", 1}}),
                                   Sub("sub0003", {{"RunCount", 1}})})}});
  REQUIRE(w.reply);
  CHECK(w.reply->code == 6310);  // the first failure's
  const json& data = w.reply->data;
  REQUIRE(data.is_array());
  REQUIRE(data.size() == 4);
  CHECK(data[0]["deviceName"] == "sub0001");
  CHECK(data[0]["items"]["Label"]["code"] == 6310);
  CHECK(data[1]["deviceName"] == "other001");
  CHECK(data[1]["code"] == 6401);  // not in this gateway's topology
  CHECK(data[2]["code"] == 6100);
  CHECK(data[3]["code"] == 6204);
  // Nothing stored but the refusal.
  CHECK(w.parts.empty());
  if (w.telemetry) {
    CHECK(w.telemetry->properties.empty());
    CHECK(w.telemetry->events.empty());
  }
}

TEST_CASE("Pack post: limits and malformed input", "[gateway][pack]") {
  Fixture f;
  json many = json::array();
  for (int i = 0; i < 21; ++i) {
    many.push_back(Sub("sub0001", {{"RunCount", i}}));
  }
  CHECK(f.Pack({{"subDevices", many}}).reply->code == 6357);
  CHECK(f.Pack(json::array()).reply->code == 460);
  CHECK(f.Pack({{"subDevices", json::object()}}).reply->code == 460);
  CHECK(f.Pack({{"subDevices", json::array({json{{"identity", 5}}})}}).reply->code == 460);
  CHECK(f.Pack({{"properties", json::array()}}).reply->code == 460);
  Work empty = f.Pack(json::object());
  CHECK(empty.reply->code == 200);
}

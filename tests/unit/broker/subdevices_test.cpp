// Sub-device sessions through a gateway's connection (combine.login / logout) and the gateway's ACL
// helpers, without a broker.

#include <catch2/catch.hpp>

#include "access.hpp"
#include "iot/alink/credentials.hpp"
#include "sessions.hpp"

using iot::broker::DeviceDirectory;
using iot::broker::DeviceRecord;
using iot::broker::Identity;
using iot::broker::Role;
using iot::broker::Sessions;

namespace {

constexpr const char* kGwPk = "gwProduct01";
constexpr const char* kSubPk = "subProduct1";
constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

Identity Device(const std::string& pk, const std::string& dn) {
  Identity id;
  id.role = Role::kDevice;
  id.product_key = pk;
  id.device_name = dn;
  return id;
}

// A directory with gateways gw01 and gw02 and sub-devices sub0001..sub0003 bound to gw01.
void Fill(DeviceDirectory& directory) {
  for (const char* gw : {"gw01", "gw02"}) {
    DeviceRecord record;
    record.secret = kSecret;
    record.gateway = true;
    directory.Upsert(kGwPk, gw, record);
  }
  for (const char* sub : {"sub0001", "sub0002", "sub0003"}) {
    DeviceRecord record;
    record.secret = kSecret;
    record.gateway_key = DeviceDirectory::Key(kGwPk, "gw01");
    directory.Upsert(kSubPk, sub, record);
  }
}

iot::alink::SubDeviceSign Signed(const std::string& dn, const std::string& secret = kSecret) {
  iot::alink::SubDeviceSign sign;
  sign.product_key = kSubPk;
  sign.device_name = dn;
  sign.client_id = std::string(kSubPk) + "." + dn;
  sign.timestamp = "1700000000000";
  sign.sign_method = iot::alink::SignMethod::kHmacSha256;
  sign.sign = iot::alink::Sign(sign.sign_method, secret,
                               iot::alink::SignContent(sign.client_id, dn, kSubPk, sign.timestamp));
  return sign;
}

}  // namespace

TEST_CASE("Sub-device sessions: login, routing, logout and the gateway going away", "[broker][subdevices]") {
  DeviceDirectory directory;
  Fill(directory);
  Sessions sessions;
  int gw_client = 0;
  const Identity gw = Device(kGwPk, "gw01");
  sessions.OnDeviceConnected(&gw_client, "gw01", gw, "10.0.0.9", 1000);

  const auto login = sessions.SubLogin(&gw_client, gw, directory, Signed("sub0001"), 1001);
  CHECK(login.code == 200);
  REQUIRE(login.change);
  CHECK(login.change->online);
  CHECK(login.change->device_name == "sub0001");
  CHECK(login.change->client_ip == "10.0.0.9");  // the gateway's connection
  CHECK(sessions.SubDeviceRoutedVia(&gw_client, kSubPk, "sub0001"));
  CHECK_FALSE(sessions.SubDeviceRoutedVia(&gw_client, kSubPk, "sub0002"));  // not logged in
  int other_client = 0;
  CHECK_FALSE(sessions.SubDeviceRoutedVia(&other_client, kSubPk, "sub0001"));
  CHECK(sessions.OnlineDevices() == 2);

  // Logging in again through the same connection: success, no second lifecycle message.
  const auto again = sessions.SubLogin(&gw_client, gw, directory, Signed("sub0001"), 1002);
  CHECK(again.code == 200);
  CHECK_FALSE(again.change);

  REQUIRE(sessions.SubLogin(&gw_client, gw, directory, Signed("sub0002"), 1003).code == 200);
  const auto logout = sessions.SubLogout(&gw_client, kSubPk, "sub0002", 1004);
  CHECK(logout.code == 200);
  REQUIRE(logout.change);
  CHECK_FALSE(logout.change->online);
  CHECK(sessions.SubLogout(&gw_client, kSubPk, "sub0002", 1005).code == 520);  // no session any more

  // Disabled while online: the session ends, naming the gateway's connection to tell.
  REQUIRE(sessions.SubLogin(&gw_client, gw, directory, Signed("sub0003"), 1006).code == 200);
  auto disabled = *directory.Find(kSubPk, "sub0003");
  disabled.enabled = false;
  directory.Upsert(kSubPk, "sub0003", disabled);
  const std::vector<std::string> changed{DeviceDirectory::Key(kSubPk, "sub0003")};
  const auto ended = sessions.RecheckSubDevices(directory, &changed, 1007);
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].reason == Sessions::EndedSub::Reason::kDisabled);
  CHECK(ended[0].gateway_client_id == "gw01");
  CHECK_FALSE(sessions.SubDeviceRoutedVia(&gw_client, kSubPk, "sub0003"));

  // The gateway's connection closes: its sub-devices go offline with it.
  const auto gone = sessions.OnGatewayGone(&gw_client, 2000);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].device_name == "sub0001");
  CHECK_FALSE(gone[0].online);
  CHECK(gone[0].seq > login.change->seq);
  CHECK_FALSE(sessions.SubDeviceRoutedVia(&gw_client, kSubPk, "sub0001"));
  CHECK(sessions.OnlineSubDevices() == 0);
  CHECK(sessions.OnGatewayGone(&gw_client, 2001).empty());
}

TEST_CASE("Sub-device sessions: refusals carry Alibaba's codes", "[broker][subdevices][security]") {
  DeviceDirectory directory;
  Fill(directory);
  Sessions sessions;
  int gw1 = 0, gw2 = 0;
  const Identity first = Device(kGwPk, "gw01");
  const Identity second = Device(kGwPk, "gw02");

  CHECK(sessions.SubLogin(&gw1, first, directory, Signed("nosuch01"), 1).code == 6100);
  CHECK(sessions.SubLogin(&gw1, first, directory, Signed("sub0001", "wrong-secret"), 1).code == 6287);
  // Not in gw02's topology.
  CHECK(sessions.SubLogin(&gw2, second, directory, Signed("sub0001"), 1).code == 6401);
  // A device that is no gateway has no topology.
  CHECK(sessions.SubLogin(&gw1, Device(kSubPk, "sub0003"), directory, Signed("sub0001"), 1).code == 6401);

  auto record = *directory.Find(kSubPk, "sub0002");
  record.enabled = false;
  directory.Upsert(kSubPk, "sub0002", record);
  CHECK(sessions.SubLogin(&gw1, first, directory, Signed("sub0002"), 1).code == 522);

  // Online through gw01; gw02 (now holding it in the directory) gets 520 until it is logged out.
  REQUIRE(sessions.SubLogin(&gw1, first, directory, Signed("sub0001"), 1).code == 200);
  auto moved = *directory.Find(kSubPk, "sub0001");
  moved.gateway_key = DeviceDirectory::Key(kGwPk, "gw02");
  directory.Upsert(kSubPk, "sub0001", moved);
  CHECK(sessions.SubLogin(&gw2, second, directory, Signed("sub0001"), 1).code == 520);
  CHECK(sessions.SubLogout(&gw2, kSubPk, "sub0001", 2).code == 520);  // not its session

  // The topology change ends the session (the plugin rechecks changed devices).
  const std::vector<std::string> changed{DeviceDirectory::Key(kSubPk, "sub0001")};
  const auto ended = sessions.RecheckSubDevices(directory, &changed, 3);
  REQUIRE(ended.size() == 1);
  CHECK_FALSE(ended[0].change.online);
  CHECK(ended[0].reason == Sessions::EndedSub::Reason::kOutOfTopology);
  CHECK(ended[0].gateway_client_id.empty());  // gw01 never connected in this test
  CHECK(sessions.SubLogin(&gw2, second, directory, Signed("sub0001"), 4).code == 200);
  // Deleted from the directory: a recheck of everything ends it too.
  directory.Remove(kSubPk, "sub0001");
  const auto deleted = sessions.RecheckSubDevices(directory, nullptr, 5);
  REQUIRE(deleted.size() == 1);
  CHECK(deleted[0].reason == Sessions::EndedSub::Reason::kDeleted);
}

TEST_CASE("Sub-device sessions: at most 1500 online per gateway connection (428)", "[broker][subdevices]") {
  DeviceDirectory directory;
  DeviceRecord gw_record;
  gw_record.secret = kSecret;
  gw_record.gateway = true;
  directory.Upsert(kGwPk, "gw01", gw_record);
  DeviceRecord sub_record;
  sub_record.secret = kSecret;
  sub_record.gateway_key = DeviceDirectory::Key(kGwPk, "gw01");
  for (std::size_t i = 0; i <= iot::broker::kMaxSubDevicesOnline; ++i) {
    directory.Upsert(kSubPk, "sub" + std::to_string(10000 + i), sub_record);
  }
  Sessions sessions;
  int gw = 0;
  for (std::size_t i = 0; i < iot::broker::kMaxSubDevicesOnline; ++i) {
    REQUIRE(
        sessions.SubLogin(&gw, Device(kGwPk, "gw01"), directory, Signed("sub" + std::to_string(10000 + i)), 1)
            .code == 200);
  }
  const auto over =
      sessions.SubLogin(&gw, Device(kGwPk, "gw01"), directory,
                        Signed("sub" + std::to_string(10000 + iot::broker::kMaxSubDevicesOnline)), 1);
  CHECK(over.code == 428);
  CHECK_FALSE(over.change);
  CHECK(sessions.OnGatewayGone(&gw, 2).size() == iot::broker::kMaxSubDevicesOnline);
}

TEST_CASE("Gateway ACL helpers: the device of a topic", "[broker][subdevices]") {
  using iot::broker::DeviceOfTopic;
  auto of = [](const char* topic) {
    auto d = DeviceOfTopic(topic);
    return d ? d->product_key + "/" + d->device_name : std::string("none");
  };
  CHECK(of("/sys/subProduct1/sub0001/thing/event/property/post") == "subProduct1/sub0001");
  CHECK(of("/sys/subProduct1/sub0001/rrpc/request/123") == "subProduct1/sub0001");
  CHECK(of("/ext/rrpc/77/sys/subProduct1/sub0001/thing/service/reboot") == "subProduct1/sub0001");
  CHECK(of("/shadow/update/subProduct1/sub0001") == "subProduct1/sub0001");
  CHECK(of("/subProduct1/sub0001/user/data") == "subProduct1/sub0001");
  CHECK(of("/iot/rrpc/reply/subProduct1/sub0001/77/sys/subProduct1/sub0001/thing/service/x") ==
        "subProduct1/sub0001");
  CHECK(of("/as/mqtt/status/subProduct1/sub0001") == "subProduct1/sub0001");  // refused by the sub's own ACL
  CHECK(of("$SYS/broker/load") == "none");
  CHECK(of("/sys/+/+/thing/service/property/set") == "none");
}

TEST_CASE("Gateway ACL helpers: what a gateway may subscribe to", "[broker][subdevices][security]") {
  using iot::broker::GatewayMaySubscribe;
  const Identity gw = Device(kGwPk, "gw01");
  auto in_topology = [](std::string_view pk, std::string_view dn) { return pk == kSubPk && dn == "sub0001"; };
  auto may = [&](const char* filter) { return GatewayMaySubscribe(gw, filter, in_topology); };
  // Alibaba's Link SDK (4.x) data-model and sub-device subscriptions.
  CHECK(may("/sys/+/+/thing/event/+/post_reply"));
  CHECK(may("/sys/+/+/thing/service/property/set"));
  CHECK(may("/sys/+/+/thing/service/+"));
  CHECK(may("/sys/+/+/rrpc/request/+"));
  CHECK(may("/ext/rrpc/+/sys/+/+/thing/service/+"));
  CHECK(may("/sys/+/+/thing/topo/add_reply"));
  CHECK(may("/ext/session/+/+/combine/login_reply"));
  CHECK(may("/ext/session/+/+/combine/batch_login_reply"));
  CHECK(may("/shadow/get/+/+"));
  // The C SDK 3.x subscribes per sub-device after its login.
  CHECK(may("/sys/subProduct1/sub0001/thing/service/property/set"));
  CHECK(may("/sys/subProduct1/sub0001/rrpc/request/+"));
  // Never: devices outside its topology, uplinks, mixed or misplaced wildcards, other spaces.
  CHECK_FALSE(may("/sys/subProduct1/sub0002/thing/service/property/set"));
  CHECK_FALSE(may("/sys/+/sub0001/thing/service/property/set"));
  CHECK_FALSE(may("/sys/subProduct1/+/thing/service/property/set"));
  CHECK_FALSE(may("/sys/#"));
  CHECK_FALSE(may("/sys/+/+/thing/event/property/post"));
  CHECK_FALSE(may("/as/mqtt/status/+/+"));
  CHECK_FALSE(may("#"));
  CHECK_FALSE(may("$SYS/#"));
  CHECK_FALSE(may("/iot/rrpc/reply/#"));
  CHECK_FALSE(may(""));
}

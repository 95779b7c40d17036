#include "access.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <openssl/sha.h>

#include "iot/alink/credentials.hpp"

using namespace iot::broker;  // NOLINT(google-build-using-namespace): test file

namespace {

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

AccessSettings Settings() {
  AccessSettings settings;
  settings.accounts.push_back(*ParseServiceAccount("iot-gateway", "gateway:" + Sha256Hex("gw-secret")));
  settings.accounts.push_back(*ParseServiceAccount("iot-api", "api:" + Sha256Hex("api-secret")));
  return settings;
}

Identity DeviceIdentity() {
  Identity id;
  id.role = Role::kDevice;
  id.product_key = "a1b2c3d4e5f";
  id.device_name = "dev01";
  return id;
}

}  // namespace

TEST_CASE("Access: devices authenticate with the Node SDK's exact CONNECT", "[broker][auth]") {
  DeviceDirectory directory;
  directory.Upsert("a1b2c3d4e5f", "dev01", {"0123456789abcdef0123456789abcdef", true});
  Authenticator auth(Settings(), directory);
  const std::string client_id =
      "a1b2c3d4e5f&dev01|securemode=3,signmethod=hmacsha1,timestamp=1700000000000,lan=NodeJS,_v=1.2.8|";
  auto ok = auth.Authenticate(client_id, "dev01&a1b2c3d4e5f", "9ec7e19b1e70a0ff46919c8733f6047c9afee044");
  CHECK(ok.result == AuthResult::kAllowed);
  CHECK(ok.identity.role == Role::kDevice);
  CHECK(ok.identity.device_name == "dev01");
  CHECK(
      auth.Authenticate(client_id, "dev01&a1b2c3d4e5f", "9EC7E19B1E70A0FF46919C8733F6047C9AFEE044").result ==
      AuthResult::kAllowed);
  CHECK(auth.Authenticate(client_id, "dev01&a1b2c3d4e5f", "00").result == AuthResult::kBadCredentials);
}

TEST_CASE("Access: unknown, disabled and anonymous clients are refused", "[broker][auth]") {
  DeviceDirectory directory;
  const auto params = iot::alink::MakeConnectParams("a1b2c3d4e5f", "dev01", "s3cret",
                                                    iot::alink::SignMethod::kHmacSha256, "2524608000000");
  Authenticator auth(Settings(), directory);
  CHECK(auth.Authenticate(params.client_id, params.username.c_str(), params.password.c_str()).result ==
        AuthResult::kUnknownDevice);
  directory.Upsert("a1b2c3d4e5f", "dev01", {"s3cret", false});
  CHECK(auth.Authenticate(params.client_id, params.username.c_str(), params.password.c_str()).result ==
        AuthResult::kDisabled);
  directory.Upsert("a1b2c3d4e5f", "dev01", {"s3cret", true});
  CHECK(auth.Authenticate(params.client_id, params.username.c_str(), params.password.c_str()).result ==
        AuthResult::kAllowed);
  CHECK(auth.Authenticate("anon", nullptr, nullptr).result == AuthResult::kAnonymousRefused);
  CHECK(auth.Authenticate("x", "garbage", "y").result == AuthResult::kBadCredentials);
}

TEST_CASE("Access: service accounts need their secret", "[broker][auth]") {
  DeviceDirectory directory;
  Authenticator auth(Settings(), directory);
  CHECK(auth.Authenticate("gw-1", "iot-gateway", "gw-secret").identity.role == Role::kGateway);
  CHECK(auth.Authenticate("gw-1", "iot-gateway", "wrong").result == AuthResult::kBadCredentials);
  CHECK(auth.IdentityOf("iot-api").role == Role::kApi);
  CHECK(auth.IdentityOf("dev01&a1b2c3d4e5f").device_name == "dev01");
  CHECK_FALSE(ParseServiceAccount("x", "root:" + Sha256Hex("a")));
  CHECK_FALSE(ParseServiceAccount("x", "gateway:abc"));
}

TEST_CASE("Access: a device reaches only its own topics", "[broker][acl]") {
  const auto me = DeviceIdentity();
  CHECK(AclAllows(me, "/sys/a1b2c3d4e5f/dev01/thing/event/property/post", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/sys/a1b2c3d4e5f/dev01/thing/event/property/post", Access::kWrite, true));
  CHECK_FALSE(AclAllows(me, "/sys/a1b2c3d4e5f/dev02/thing/event/property/post", Access::kWrite, false));
  CHECK(AclAllows(me, "/sys/a1b2c3d4e5f/dev01/#", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/sys/a1b2c3d4e5f/dev01/rrpc/request/+", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/sys/+/+/thing/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "$SYS/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/as/mqtt/status/a1b2c3d4e5f/dev01", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/as/mqtt/status/a1b2c3d4e5f/dev01", Access::kWrite, false));
}

TEST_CASE("Access: service accounts get exactly their service's topics", "[broker][acl]") {
  Identity gateway;
  gateway.role = Role::kGateway;
  CHECK(AclAllows(gateway, "$share/gw//sys/+/+/thing/event/+/post", Access::kSubscribe, false));
  CHECK(AclAllows(gateway, "$share/gw//as/mqtt/status/+/+", Access::kSubscribe, false));
  CHECK(AclAllows(gateway, "/sys/pk01/dev1/thing/event/property/post_reply", Access::kWrite, false));
  CHECK_FALSE(AclAllows(gateway, "#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(gateway, "/as/mqtt/status/pk01/dev1", Access::kWrite, false));
  // The broker's figures, which the gateway re-exports on /metrics: read-only.
  CHECK(AclAllows(gateway, "$SYS/broker/#", Access::kSubscribe, false));
  CHECK(AclAllows(gateway, "$SYS/broker/clients/connected", Access::kRead, false));
  CHECK(AclAllows(gateway, "/iot/broker/stats", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(gateway, "$SYS/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(gateway, "$SYS/broker/clients/connected", Access::kWrite, false));
  Identity api;
  api.role = Role::kApi;
  CHECK(AclAllows(api, "/sys/pk01/dev1/rrpc/request/123", Access::kWrite, false));
  CHECK(AclAllows(api, "/sys/pk01/dev1/thing/service/property/set", Access::kWrite, false));
  CHECK(AclAllows(api, "/sys/pk01/dev1/thing/config/push", Access::kWrite, false));  // remote config
  CHECK_FALSE(AclAllows(api, "/sys/pk01/dev1/thing/config/get_reply", Access::kWrite, false));
  CHECK(AclAllows(api, "$share/api//sys/+/+/rrpc/response/+", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(api, "/sys/pk01/dev1/thing/event/property/post", Access::kWrite, false));
  CHECK_FALSE(AclAllows(api, "/sys/+/+/thing/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(api, "$SYS/broker/#", Access::kSubscribe, false));
  // The device shadow: devices update, the gateway answers, the API pushes desired changes ("control").
  CHECK(AclAllows(gateway, "$share/gw//shadow/update/+/+", Access::kSubscribe, false));
  CHECK(AclAllows(gateway, "/shadow/get/pk01/dev1", Access::kWrite, false));
  CHECK(AclAllows(api, "/shadow/get/pk01/dev1", Access::kWrite, false));
  CHECK_FALSE(AclAllows(api, "/shadow/update/pk01/dev1", Access::kWrite, false));
  // Sub-device sessions: the gateway takes the requests and answers them.
  CHECK(AclAllows(gateway, "$share/gw//ext/session/+/+/combine/login", Access::kSubscribe, false));
  CHECK(AclAllows(gateway, "/ext/session/pk01/dev1/combine/login_reply", Access::kWrite, false));
  const auto me = DeviceIdentity();
  CHECK(AclAllows(me, "/shadow/update/a1b2c3d4e5f/dev01", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/shadow/get/a1b2c3d4e5f/dev01", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/shadow/update/a1b2c3d4e5f/other01", Access::kWrite, false));
  CHECK(AclAllows(me, "/ext/session/a1b2c3d4e5f/dev01/combine/login", Access::kWrite, false));
  CHECK(AclAllows(me, "/ota/device/inform/a1b2c3d4e5f/dev01", Access::kWrite, false));
  // OTA: the device informs and reports progress under its own name and takes its pushes; the gateway
  // takes the reports; the API's job driver pushes.
  CHECK(AclAllows(me, "/ota/device/progress/a1b2c3d4e5f/dev01", Access::kWrite, false));
  CHECK(AclAllows(me, "/ota/device/upgrade/a1b2c3d4e5f/dev01", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/ota/device/upgrade/a1b2c3d4e5f/dev01", Access::kRead, false));
  CHECK_FALSE(AclAllows(me, "/ota/device/upgrade/a1b2c3d4e5f/dev01", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/ota/device/progress/a1b2c3d4e5f/other01", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/ota/device/upgrade/a1b2c3d4e5f/other01", Access::kSubscribe, false));
  CHECK(AclAllows(gateway, "$share/gw//ota/device/+/+/+", Access::kSubscribe, false));
  CHECK(AclAllows(api, "/ota/device/upgrade/pk01/dev1", Access::kWrite, false));
  CHECK_FALSE(AclAllows(api, "/ota/device/progress/pk01/dev1", Access::kWrite, false));
  CHECK_FALSE(AclAllows(api, "/ota/device/+/+/+", Access::kSubscribe, false));
}

TEST_CASE("Access: a device publishes uplink, reads downlink, subscribes downlink and the SDKs' filters",
          "[broker][acl][security]") {
  const auto me = DeviceIdentity();
  const std::string base = "/sys/a1b2c3d4e5f/dev01/";
  // Publish: uplink only.
  CHECK(AclAllows(me, base + "thing/service/Reboot_reply", Access::kWrite, false));
  CHECK(AclAllows(me, base + "rrpc/response/42", Access::kWrite, false));
  CHECK(AclAllows(me, "/a1b2c3d4e5f/dev01/user/update", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, base + "thing/service/property/set", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, base + "thing/event/property/post_reply", Access::kWrite, false));
  // Read: downlink only; its own messages never come back through its wildcards.
  CHECK(AclAllows(me, base + "thing/service/Reboot", Access::kRead, false));
  CHECK(AclAllows(me, base + "thing/event/property/post_reply", Access::kRead, false));
  CHECK(AclAllows(me, "/shadow/get/a1b2c3d4e5f/dev01", Access::kRead, false));
  CHECK_FALSE(AclAllows(me, base + "thing/service/Reboot_reply", Access::kRead, false));
  CHECK_FALSE(AclAllows(me, base + "thing/event/property/post", Access::kRead, false));
  // Subscribe: downlink topics and the SDKs' known subscriptions.
  for (const std::string f : {"thing/event/+/post_reply", "thing/service/+", "thing/service/#", "#",
                              "thing/#", "rrpc/request/+", "thing/service/property/set", "thing/config/push",
                              "thing/config/push_reply", "thing/deviceinfo/update_reply"}) {
    CAPTURE(f);
    CHECK(AclAllows(me, base + f, Access::kSubscribe, false));
  }
  CHECK(AclAllows(me, "/shadow/get/a1b2c3d4e5f/dev01", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/ext/ntp/a1b2c3d4e5f/dev01/response", Access::kSubscribe, false));
  const std::vector<std::string> refused = {base + "thing/event/property/post",
                                            base + "thing/service/X_reply", base + "thing/event/+/post",
                                            base + "+/+/+/+", "/ext/ntp/a1b2c3d4e5f/dev01/request"};
  for (const std::string& f : refused) {
    CAPTURE(f);
    CHECK_FALSE(AclAllows(me, f, Access::kSubscribe, false));
  }
}

TEST_CASE("Access: a product's timestamp window refuses old, future and missing timestamps",
          "[broker][auth][security]") {
  DeviceDirectory directory;
  Authenticator auth(Settings(), directory);
  const std::int64_t now = 1'800'000'000'000;
  auto connect = [&](const std::string& ts) {
    const auto p = iot::alink::MakeConnectParams("a1b2c3d4e5f", "dev01", "s3cret",
                                                 iot::alink::SignMethod::kHmacSha256, ts);
    return auth.Authenticate(p.client_id, p.username.c_str(), p.password.c_str(), now).result;
  };
  directory.Upsert("a1b2c3d4e5f", "dev01", {"s3cret", true, 0});
  CHECK(connect("2524608000000") == AuthResult::kAllowed);  // the C SDK's fixed year 2050: no window
  CHECK(connect("") == AuthResult::kAllowed);
  directory.Upsert("a1b2c3d4e5f", "dev01", {"s3cret", true, 300});
  CHECK(connect(std::to_string(now)) == AuthResult::kAllowed);
  CHECK(connect(std::to_string(now - 299'000)) == AuthResult::kAllowed);
  CHECK(connect(std::to_string(now + 299'000)) == AuthResult::kAllowed);
  CHECK(connect(std::to_string(now - 301'000)) == AuthResult::kStaleTimestamp);
  CHECK(connect("2524608000000") == AuthResult::kStaleTimestamp);
  CHECK(connect("") == AuthResult::kStaleTimestamp);
  CHECK(connect("17e11") == AuthResult::kStaleTimestamp);
}

TEST_CASE(
    "Access: custom topics go both ways, broadcasts only to the product's devices, RRPC answers re-routed",
    "[broker][acl][security]") {
  const auto me = DeviceIdentity();
  const std::string user = "/a1b2c3d4e5f/dev01/user/";
  // Its own custom topics: publish, subscribe (wildcards below /user/) and read.
  CHECK(AclAllows(me, user + "update", Access::kWrite, false));
  CHECK(AclAllows(me, user + "get", Access::kRead, false));
  CHECK(AclAllows(me, user + "#", Access::kSubscribe, false));
  CHECK(AclAllows(me, user + "+/cmd", Access::kSubscribe, false));
  CHECK(AclAllows(me, user + "get", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/a1b2c3d4e5f/dev02/user/get", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/a1b2c3d4e5f/dev02/user/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/a1b2c3d4e5f/+/user/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/+/+/user/#", Access::kSubscribe, false));
  // Broadcasts of its own product: subscribe and read, never publish; other products' never.
  CHECK(AclAllows(me, "/broadcast/a1b2c3d4e5f/#", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/broadcast/a1b2c3d4e5f/ota/+", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/broadcast/a1b2c3d4e5f/ota/notice", Access::kRead, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/a1b2c3d4e5f/ota/notice", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/a1OtherProd/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/a1OtherProd/x", Access::kRead, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/+/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/a1b2c3d4e5f/a#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/a1b2c3d4e5f/#/x", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/broadcast/a1b2c3d4e5f/", Access::kSubscribe, false));
  // Custom RRPC, both forms, for itself only.
  CHECK(AclAllows(me, "/ext/rrpc/+/a1b2c3d4e5f/dev01/user/get", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/ext/rrpc/+/sys/a1b2c3d4e5f/dev01/thing/service/+", Access::kSubscribe, false));
  CHECK(AclAllows(me, "/ext/rrpc/42/a1b2c3d4e5f/dev01/user/get", Access::kRead, false));
  CHECK(AclAllows(me, "/ext/rrpc/42/a1b2c3d4e5f/dev01/user/get", Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/ext/rrpc/+/a1b2c3d4e5f/dev02/user/get", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/ext/rrpc/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(me, "/ext/rrpc/42/sys/a1b2c3d4e5f/dev02/thing/service/X", Access::kWrite, false));
  // Its answer is delivered on the internal reply topic, which only the API reads.
  auto rerouted = RerouteRrpcAnswer("/ext/rrpc/42/a1b2c3d4e5f/dev01/user/get", "a1b2c3d4e5f", "dev01");
  REQUIRE(rerouted);
  CHECK(*rerouted == "/iot/rrpc/reply/a1b2c3d4e5f/dev01/42/a1b2c3d4e5f/dev01/user/get");
  CHECK_FALSE(RerouteRrpcAnswer("/a1b2c3d4e5f/dev01/user/get", "a1b2c3d4e5f", "dev01"));
  CHECK(AclAllows(me, *rerouted, Access::kWrite, false));
  CHECK_FALSE(AclAllows(me, "/iot/rrpc/reply/a1b2c3d4e5f/dev02/42/a1b2c3d4e5f/dev02/user/get", Access::kWrite,
                        false));
  CHECK_FALSE(AclAllows(me, "/iot/rrpc/reply/#", Access::kSubscribe, false));
  Identity api;
  api.role = Role::kApi;
  CHECK(AclAllows(api, "/iot/rrpc/reply/#", Access::kSubscribe, false));
  CHECK(AclAllows(api, user + "get", Access::kWrite, false));
  CHECK(AclAllows(api, "/broadcast/a1b2c3d4e5f/x", Access::kWrite, false));
  CHECK(AclAllows(api, "/ext/rrpc/42/a1b2c3d4e5f/dev01/user/get", Access::kWrite, false));
  Identity gateway;
  gateway.role = Role::kGateway;
  CHECK(AclAllows(gateway, "$share/gw//+/+/user/#", Access::kSubscribe, false));
  CHECK_FALSE(AclAllows(gateway, user + "get", Access::kWrite, false));
}

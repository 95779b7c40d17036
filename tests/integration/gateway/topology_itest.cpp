// A gateway device against the real broker (plugin), gateway service and database: its topology
// (thing.topo.add / get / delete, thing.sub.register) answered like Alibaba, then a sub-device's
// session and its posts over the gateway's connection, validated against the sub-device's own
// product model and stored as the sub-device's.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway_stack.hpp"
#include "iot/alink/credentials.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/products.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/env.hpp"

using iot::gateway::itest::GatewayProcess;
using iot::gateway::itest::kPk;
using iot::gateway::itest::kSecret;
using iot::gateway::itest::Request;
using iot::gateway::itest::Stack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kGwPk = "a1GwProd001";

std::string GwTopic(const std::string& rest) { return std::string("/sys/") + kGwPk + "/gw01/" + rest; }
std::string SubTopic(const std::string& dn, const std::string& rest) {
  return std::string("/sys/") + kPk + "/" + dn + "/" + rest;
}

// A sub-device's sign as the C SDK (string timestamp, "signmethod") or the Node SDK (number
// timestamp, "signMethod") sends it.
json Signed(const std::string& pk, const std::string& dn, bool node_sdk,
            const std::string& secret = kSecret) {
  const std::string client_id = pk + "." + dn;
  const std::string ts = "1700000000000";
  json item = {{"productKey", pk},
               {"deviceName", dn},
               {"clientId", client_id},
               {"sign", iot::alink::Sign(iot::alink::SignMethod::kHmacSha1, secret,
                                         iot::alink::SignContent(client_id, dn, pk, ts))}};
  if (node_sdk) {
    item["signMethod"] = "hmacsha1";
    item["timestamp"] = 1700000000000;
  } else {
    item["signmethod"] = "hmacSha1";
    item["timestamp"] = ts;
  }
  return item;
}

json Alink(const std::string& id, const std::string& method, const json& params) {
  return {{"id", id}, {"version", "1.0"}, {"params", params}, {"method", method}};
}

}  // namespace

TEST_CASE("Gateway topology: add, get, register, delete, then proxy posts of a sub-device",
          "[integration][gateway][topology]") {
  Stack stack;
  iot::store::ProductCreate product;
  product.product_key = kGwPk;
  product.name = "gateways";
  product.node_type = iot::store::NodeType::kGateway;
  REQUIRE(iot::store::CreateProduct(stack.Db(), product));
  iot::store::DeviceCreate create;
  create.device_name = "gw01";
  create.secret = kSecret;
  auto gw = iot::store::CreateDevice(stack.Db(), kGwPk, create);
  REQUIRE(gw);
  const std::int64_t sub1 = stack.AddDevice("sub0001");
  stack.AddDevice("sub0002");
  GatewayProcess service(stack, "gw-topology");
  REQUIRE(service.WaitConnected());

  iot::testing::MqttTestClient gateway;
  iot::testing::DeviceConnect connect;
  connect.uri = stack.Broker().Uri();
  connect.product_key = kGwPk;
  connect.device_name = "gw01";
  connect.device_secret = kSecret;
  REQUIRE(iot::testing::PollUntil([&] { return gateway.ConnectDevice(connect) == 0; }, 3s, 50ms));
  REQUIRE(gateway.Subscribe(GwTopic("thing/#"), 1) <= 1);
  REQUIRE(gateway.Subscribe("/sys/+/+/thing/event/+/post_reply", 1) == 1);

  // thing.topo.add: both SDKs' spellings in one request.
  auto added = Request(gateway, GwTopic("thing/topo/add"),
                       Alink("1", "thing.topo.add",
                             json::array({Signed(kPk, "sub0001", false), Signed(kPk, "sub0002", true)})));
  REQUIRE(added);
  CHECK((*added)["code"] == 200);
  CHECK((*added)["data"].size() == 2);
  // Refusals, each leaving the topology as it was.
  auto bad_sign =
      Request(gateway, GwTopic("thing/topo/add"),
              Alink("2", "thing.topo.add", json::array({Signed(kPk, "sub0001", false, "wrong")})));
  REQUIRE(bad_sign);
  CHECK((*bad_sign)["code"] == 401);
  auto unknown = Request(gateway, GwTopic("thing/topo/add"),
                         Alink("3", "thing.topo.add", json::array({Signed(kPk, "nosuch01", false)})));
  REQUIRE(unknown);
  CHECK((*unknown)["code"] == 6100);
  auto self = Request(gateway, GwTopic("thing/topo/add"),
                      Alink("4", "thing.topo.add", json::array({Signed(kGwPk, "gw01", false)})));
  REQUIRE(self);
  CHECK((*self)["code"] == 6402);

  auto listed = Request(gateway, GwTopic("thing/topo/get"), Alink("5", "thing.topo.get", json::object()));
  REQUIRE(listed);
  CHECK((*listed)["code"] == 200);
  CHECK((*listed)["data"].size() == 2);

  // thing.sub.register: the product's dynamic registration is off (6288); unknown devices are 6100.
  const json one = json::array({{{"productKey", kPk}, {"deviceName", "sub0001"}}});
  auto reg = Request(gateway, GwTopic("thing/sub/register"), Alink("6", "thing.sub.register", one));
  REQUIRE(reg);
  CHECK((*reg)["code"] == 6288);
  iot::store::ProductPatch on;
  on.dynamic_registration = true;
  REQUIRE(iot::store::PatchProduct(stack.Db(), kPk, on));
  auto reg2 = Request(gateway, GwTopic("thing/sub/register"), Alink("7", "thing.sub.register", one));
  REQUIRE(reg2);
  CHECK((*reg2)["code"] == 200);
  CHECK((*reg2)["data"][0]["deviceSecret"] == kSecret);
  CHECK_FALSE((*reg2)["data"][0]["iotId"].get<std::string>().empty());
  auto reg3 = Request(
      gateway, GwTopic("thing/sub/register"),
      Alink("8", "thing.sub.register", json::array({{{"productKey", kPk}, {"deviceName", "nosuch01"}}})));
  REQUIRE(reg3);
  CHECK((*reg3)["code"] == 6100);

  // The sub-device's session (answered by the broker plugin), then its posts over the gateway's
  // connection: validated against its own product's model, stored as its own.
  json login_params = Signed(kPk, "sub0001", true);
  const std::string login_topic = std::string("/ext/session/") + kGwPk + "/gw01/combine/login";
  std::optional<json> login;
  REQUIRE(iot::testing::PollUntil(
      [&, n = 0]() mutable {
        login = Request(gateway, login_topic, Alink("l" + std::to_string(++n), "combine.login", login_params),
                        2s);
        return login && (*login)["code"] == 200;
      },
      5s, 100ms));
  auto post = Request(gateway, SubTopic("sub0001", "thing/event/property/post"),
                      Alink("9", "thing.event.property.post", {{"RunCount", 5}, {"Label", 0}}));
  REQUIRE(post);
  CHECK((*post)["code"] == 200);
  CHECK((*post)["data"]["Label"]["code"] == 6310);  // the sub-device's model: Label is text
  CHECK(stack.Count("SELECT count(*) FROM latest_values WHERE device_id = $1 AND identifier = 'RunCount'",
                    sub1) == 1);
  CHECK(iot::testing::PollUntil(
      [&] {
        return stack.Scalar("SELECT status FROM devices WHERE id = $1", sub1) ==
               std::optional<std::string>("online");
      },
      5s, 50ms));
  // thing.list.found: recorded for operators; a bad name is 6280.
  auto found = Request(
      gateway, GwTopic("thing/list/found"),
      Alink("14", "thing.list.found", json::array({{{"productKey", kPk}, {"deviceName", "new-dev-01"}}})));
  REQUIRE(found);
  CHECK((*found)["code"] == 200);
  CHECK(stack.Count("SELECT count(*) FROM device_found WHERE gateway_id = $1 AND device_name = 'new-dev-01'",
                    gw->id) == 1);
  auto bad_name =
      Request(gateway, GwTopic("thing/list/found"),
              Alink("15", "thing.list.found", json::array({{{"productKey", kPk}, {"deviceName", "x"}}})));
  REQUIRE(bad_name);
  CHECK((*bad_name)["code"] == 6280);

  // thing.topo.delete, then the same again: 6401.
  const json two = json::array({{{"productKey", kPk}, {"deviceName", "sub0002"}}});
  auto removed = Request(gateway, GwTopic("thing/topo/delete"), Alink("11", "thing.topo.delete", two));
  REQUIRE(removed);
  CHECK((*removed)["code"] == 200);
  auto again = Request(gateway, GwTopic("thing/topo/delete"), Alink("12", "thing.topo.delete", two));
  REQUIRE(again);
  CHECK((*again)["code"] == 6401);
  auto after = Request(gateway, GwTopic("thing/topo/get"), Alink("13", "thing.topo.get", json::object()));
  REQUIRE(after);
  CHECK((*after)["data"] == json::array({{{"productKey", kPk}, {"deviceName", "sub0001"}}}));

  // Not logged in: sub0002's topics stay closed to the gateway (no answer; the broker then closes the
  // connection, so this comes last).
  CHECK_FALSE(Request(gateway, SubTopic("sub0002", "thing/event/property/post"),
                      Alink("10", "thing.event.property.post", {{"RunCount", 1}}), 1s));
}

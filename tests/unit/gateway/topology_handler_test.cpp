// Gateways' topology requests: the handler turns them into a TopologyOp (the writer checks and applies
// it) and replies::SetTopologyAnswer answers with Alibaba's codes.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"
#include "reply.hpp"

using iot::gateway::Work;
using nlohmann::json;
namespace gw = iot::gateway;
namespace t = iot::gateway::testing;

namespace {

struct Fixture : t::HandlerFixture {
  Fixture() : HandlerFixture(gw::HandlerSettings{}, iot::tsl::Mode::kWeak) {}
};

json Sub(const std::string& dn, const char* method_key = "signmethod") {
  return {{"productKey", "a1Sub01"},      {"deviceName", dn},       {"clientId", "a1Sub01." + dn},
          {"timestamp", "1700000000000"}, {method_key, "hmacSha1"}, {"sign", "00ff"}};
}

}  // namespace

TEST_CASE("Topology handler: requests become TopologyOps", "[gateway][topology]") {
  Fixture f;
  json node = Sub("sub0002", "signMethod");
  node["timestamp"] = 1700000000000;  // the Node SDK's number
  Work add =
      f.Run("/sys/a1Prod/dev1/thing/topo/add",
            json{{"id", "1"}, {"params", json::array({Sub("sub0001"), node})}, {"method", "thing.topo.add"}}
                .dump());
  const auto* op = std::get_if<gw::TopologyOp>(&add.op);
  REQUIRE(op);
  CHECK(op->action == gw::TopologyOp::Action::kAdd);
  CHECK(op->gateway_id == 11);
  CHECK(op->gateway_device_name == "dev1");
  REQUIRE(op->signs.size() == 2);
  CHECK(op->signs[1].timestamp == "1700000000000");
  REQUIRE(add.reply);
  CHECK(add.reply->topic == "/sys/a1Prod/dev1/thing/topo/add_reply");

  Work del = f.Run(
      "/sys/a1Prod/dev1/thing/topo/delete",
      R"({"id":"2","params":[{"productKey":"a1Sub01","deviceName":"sub0001"}],"method":"thing.topo.delete"})");
  const auto* del_op = std::get_if<gw::TopologyOp>(&del.op);
  REQUIRE(del_op);
  CHECK(del_op->action == gw::TopologyOp::Action::kDelete);
  REQUIRE(del_op->devices.size() == 1);

  Work get = f.Run("/sys/a1Prod/dev1/thing/topo/get", R"({"id":"3","params":{},"method":"thing.topo.get"})");
  REQUIRE(std::get_if<gw::TopologyOp>(&get.op));
  Work reg = f.Run(
      "/sys/a1Prod/dev1/thing/sub/register",
      R"({"id":"4","params":[{"productKey":"a1Sub01","deviceName":"sub0001"}],"method":"thing.sub.register"})");
  const auto* reg_op = std::get_if<gw::TopologyOp>(&reg.op);
  REQUIRE(reg_op);
  CHECK(reg_op->action == gw::TopologyOp::Action::kRegister);
}

TEST_CASE("Topology handler: malformed requests are refused before the writer", "[gateway][topology]") {
  Fixture f;
  for (const char* params : {R"([])", R"({})", R"([{"productKey":"a1Sub01"}])", R"([1])"}) {
    INFO(params);
    Work w = f.Run("/sys/a1Prod/dev1/thing/topo/add",
                   std::string(R"({"id":"5","method":"thing.topo.add","params":)") + params + "}");
    REQUIRE(w.reply);
    CHECK(w.reply->code == 460);
    CHECK(std::holds_alternative<std::monostate>(w.op));
  }
  json bad_method = Sub("sub0001");
  bad_method["signmethod"] = "rot13";
  Work w =
      f.Run("/sys/a1Prod/dev1/thing/topo/add",
            json{{"id", "6"}, {"params", json::array({bad_method})}, {"method", "thing.topo.add"}}.dump());
  CHECK(w.reply->code == 6292);
  Work del = f.Run(
      "/sys/a1Prod/dev1/thing/topo/delete",
      R"({"id":"7","params":[{"productKey":"a1Sub01","deviceName":"x"}],"method":"thing.topo.delete"})");
  CHECK(del.reply->code == 460);  // device names are 4 to 32 characters
}

TEST_CASE("Topology answers: codes and data", "[gateway][topology]") {
  using Refusal = gw::OpResult::TopologyRefusal;
  gw::TopologyOp op;
  op.action = gw::TopologyOp::Action::kAdd;
  op.signs.resize(2);
  op.signs[1].product_key = "a1Sub01";
  op.signs[1].device_name = "sub0002";
  const std::pair<Refusal, int> cases[] = {
      {Refusal::kUnknownDevice, 6100},   {Refusal::kBadSign, 401},    {Refusal::kSelf, 6402},
      {Refusal::kOtherGateway, 6619},    {Refusal::kTooMany, 6400},   {Refusal::kNotInTopology, 6401},
      {Refusal::kRegistrationOff, 6288}, {Refusal::kNotGateway, 460},
  };
  for (const auto& [refusal, code] : cases) {
    gw::Reply reply;
    gw::OpResult result;
    result.topology_refusal = refusal;
    result.topology_index = 1;
    gw::replies::SetTopologyAnswer(reply, op, result);
    CHECK(reply.code == code);
    CHECK(reply.message.find("a1Sub01/sub0002") != std::string::npos);
  }
  gw::OpResult listed;
  iot::store::SubDevice sub;
  sub.product_key = "a1Sub01";
  sub.device_name = "sub0001";
  sub.iot_id = "iot123";
  listed.topology.push_back(sub);
  gw::Reply reply;
  gw::replies::SetTopologyAnswer(reply, op, listed);
  CHECK(reply.code == 200);
  CHECK(reply.data == json::array({{{"productKey", "a1Sub01"}, {"deviceName", "sub0001"}}}));
  op.action = gw::TopologyOp::Action::kRegister;
  listed.registered_secrets.push_back("s3cret");
  gw::replies::SetTopologyAnswer(reply, op, listed);
  CHECK(reply.data[0]["iotId"] == "iot123");
  CHECK(reply.data[0]["deviceSecret"] == "s3cret");
}

TEST_CASE("Topology handler: thing.list.found is recorded, bad names are 6280", "[gateway][topology]") {
  Fixture f;
  Work found = f.Run(
      "/sys/a1Prod/dev1/thing/list/found",
      R"({"id":"8","params":[{"productKey":"a1Sub01","deviceName":"sub0009"}],"method":"thing.list.found"})");
  const auto* op = std::get_if<gw::TopologyOp>(&found.op);
  REQUIRE(op);
  CHECK(op->action == gw::TopologyOp::Action::kFound);
  CHECK(op->now_ms == t::kNow);
  REQUIRE(op->devices.size() == 1);
  gw::replies::SetTopologyAnswer(*found.reply, *op, gw::OpResult{});
  CHECK(found.reply->code == 200);
  CHECK(found.reply->data == json::object());
  Work bad = f.Run(
      "/sys/a1Prod/dev1/thing/list/found",
      R"({"id":"9","params":[{"productKey":"a1Sub01","deviceName":"ab"}],"method":"thing.list.found"})");
  CHECK(bad.reply->code == 6280);
  CHECK(std::holds_alternative<std::monostate>(bad.op));
}

// A gateway's topology over REST against the real binary and PostgreSQL: list, add, remove, the
// device's gateway and the device list filtered by gateway.
#include <span>
#include <vector>

#include "iot/store/devices.hpp"
#include "iot/store/topology.hpp"
#include "iot/testing/catch_result.hpp"
#include "rest_fixture.hpp"

using namespace iot::api::itest;

TEST_CASE("rest: a gateway's topology - add, list, a sub-device shows its gateway, remove",
          "[integration][api][rest][topology]") {
  Rest rest;
  INFO(rest.api.Log());
  REQUIRE(rest.Call("POST", "/products",
                    json{{"name", "gateways"}, {"productKey", "gwProd01"}, {"nodeType", "gateway"}})
              .status == 201);
  rest.Product("subProd1");
  rest.Device("gwProd01", "gw01");
  rest.Device("gwProd01", "gw02");
  for (const char* dn : {"sub0001", "sub0002", "sub0003"}) {
    rest.Device("subProd1", dn);
  }
  const json two = {{"devices", json::array({{{"productKey", "subProd1"}, {"deviceName", "sub0001"}},
                                             {{"productKey", "subProd1"}, {"deviceName", "sub0002"}}})}};
  auto added = rest.Call("POST", "/products/gwProd01/devices/gw01/topology", two);
  REQUIRE(added.status == 200);
  CHECK(Json(added)["items"].size() == 2);

  auto listed = rest.Call("GET", "/products/gwProd01/devices/gw01/topology");
  REQUIRE(listed.status == 200);
  const json items = Json(listed)["items"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["deviceName"] == "sub0001");
  CHECK(items[0]["status"] == "unactive");
  CHECK(items[0]["iotId"].is_string());

  auto sub = Json(rest.Call("GET", "/products/subProd1/devices/sub0001"));
  CHECK(sub["gateway"] == json{{"productKey", "gwProd01"}, {"deviceName", "gw01"}});
  CHECK(Json(rest.Call("GET", "/products/subProd1/devices/sub0003"))["gateway"].is_null());
  auto filtered = Json(rest.Call("GET", "/products/subProd1/devices?gateway=gwProd01/gw01"));
  CHECK(filtered["items"].size() == 2);
  CheckProblem(rest.Call("GET", "/products/subProd1/devices?gateway=nonsense"), 400);

  // Refusals: another gateway's sub-device, a device that is no gateway, unknown devices, itself.
  CheckProblem(
      rest.Call("POST", "/products/gwProd01/devices/gw02/topology",
                json{{"devices", json::array({{{"productKey", "subProd1"}, {"deviceName", "sub0001"}}})}}),
      409);
  CheckProblem(
      rest.Call("POST", "/products/subProd1/devices/sub0003/topology",
                json{{"devices", json::array({{{"productKey", "subProd1"}, {"deviceName", "sub0002"}}})}}),
      409);
  CheckProblem(
      rest.Call("POST", "/products/gwProd01/devices/gw01/topology",
                json{{"devices", json::array({{{"productKey", "subProd1"}, {"deviceName", "nosuch01"}}})}}),
      404);
  CheckProblem(
      rest.Call("POST", "/products/gwProd01/devices/gw01/topology",
                json{{"devices", json::array({{{"productKey", "gwProd01"}, {"deviceName", "gw01"}}})}}),
      400);
  CheckProblem(
      rest.Call("POST", "/products/gwProd01/devices/gw01/topology", json{{"devices", json::array()}}), 400);
  const std::string viewer = rest.Token("viewer-topo", "viewer");
  CheckProblem(rest.Call("POST", "/products/gwProd01/devices/gw01/topology", two, viewer), 403);
  CHECK(rest.Call("GET", "/products/gwProd01/devices/gw01/topology", "", viewer).status == 200);

  // What the gateway reported with thing.list.found.
  const auto gw01 = Json(rest.Call("GET", "/products/gwProd01/devices/gw01"));
  auto gw01_row = iot::store::GetDevice(rest.db, "gwProd01", "gw01");
  REQUIRE(gw01_row);
  const iot::store::DeviceRef found{"subProd1", "newdev01"};
  REQUIRE(iot::store::RecordFoundDevices(rest.db, gw01_row->id, std::span(&found, 1), 1700000000000));
  auto found_list = Json(rest.Call("GET", "/products/gwProd01/devices/gw01/topology/found"));
  REQUIRE(found_list["items"].size() == 1);
  CHECK(found_list["items"][0]["deviceName"] == "newdev01");
  CHECK(found_list["items"][0]["foundAt"] == 1700000000000);
  CHECK(gw01["gateway"].is_null());

  CHECK(rest.Call("DELETE", "/products/gwProd01/devices/gw01/topology/subProd1/sub0002").status == 204);
  CheckProblem(rest.Call("DELETE", "/products/gwProd01/devices/gw01/topology/subProd1/sub0002"), 404);
  CHECK(Json(rest.Call("GET", "/products/gwProd01/devices/gw01/topology"))["items"].size() == 1);
  CHECK(Json(rest.Call("GET", "/products/subProd1/devices/sub0002"))["gateway"].is_null());
}

TEST_CASE("rest: a gateway holds at most 1500 sub-devices", "[integration][api][rest][topology]") {
  Rest rest;
  INFO(rest.api.Log());
  REQUIRE(rest.Call("POST", "/products",
                    json{{"name", "gateways"}, {"productKey", "gwProd02"}, {"nodeType", "gateway"}})
              .status == 201);
  rest.Product("subProd2");
  rest.Device("gwProd02", "gw01");
  // 1501 sub-devices, created through the store in batches of 1000.
  std::vector<iot::store::DeviceCreate> batch;
  json devices = json::array();
  for (int i = 0; i <= 1500; ++i) {
    iot::store::DeviceCreate create;
    create.device_name = "sub" + std::to_string(100000 + i);
    batch.push_back(create);
    if (batch.size() == 1000 || i == 1500) {
      REQUIRE(iot::store::CreateDevices(rest.db, "subProd2", batch));
      batch.clear();
    }
    if (i < 1500) {
      devices.push_back({{"productKey", "subProd2"}, {"deviceName", "sub" + std::to_string(100000 + i)}});
    }
  }
  auto full = rest.Call("POST", "/products/gwProd02/devices/gw01/topology", json{{"devices", devices}});
  REQUIRE(full.status == 200);
  CHECK(Json(full)["items"].size() == 1500);
  CheckProblem(
      rest.Call("POST", "/products/gwProd02/devices/gw01/topology",
                json{{"devices", json::array({{{"productKey", "subProd2"}, {"deviceName", "sub101500"}}})}}),
      409);
  CHECK(Json(rest.Call("GET", "/products/gwProd02/devices/gw01/topology"))["items"].size() == 1500);
}

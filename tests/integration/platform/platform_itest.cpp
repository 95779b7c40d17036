// The platform as a whole: a device's connection state reaches the REST API through the broker
// plugin's lifecycle messages and the gateway; devices connect over TLS with the local CA.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/pg_database.hpp"

using namespace std::chrono_literals;

namespace {

std::string DeviceStatus(int api_port, const std::string& dn) {
  auto r = iot::testing::HttpRequest(
      api_port, "GET", std::string("/api/v1/products/") + iot::gateway::itest::kPk + "/devices/" + dn,
      {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}});
  if (r.status != 200) {
    return "http " + std::to_string(r.status);
  }
  return nlohmann::json::parse(r.body).value("status", "");
}

}  // namespace

TEST_CASE("Platform: the API shows a device online and offline within a second of the broker",
          "[integration][platform]") {
  iot::gateway::itest::Stack stack;
  stack.AddDevice("lamp-0001");
  iot::gateway::itest::GatewayProcess gateway(stack, "gw-platform");
  REQUIRE(gateway.WaitConnected(10s));
  iot::api::itest::ApiProcess api({}, stack.Dsn());
  CHECK(DeviceStatus(api.Port(), "lamp-0001") == "unactive");

  auto device = stack.Connect("lamp-0001");
  REQUIRE(device);
  CHECK(iot::testing::PollUntil([&] { return DeviceStatus(api.Port(), "lamp-0001") == "online"; }, 1s, 20ms));
  auto body = nlohmann::json::parse(
      iot::testing::HttpRequest(api.Port(), "GET",
                                std::string("/api/v1/products/") + iot::gateway::itest::kPk + "/devices/lamp-0001",
                                {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}})
          .body);
  CHECK(body["activatedAt"].is_number());
  CHECK(body["ipAddress"] == "127.0.0.1");

  device->Disconnect();
  CHECK(iot::testing::PollUntil([&] { return DeviceStatus(api.Port(), "lamp-0001") == "offline"; }, 1s, 20ms));
}

TEST_CASE("Platform: a device connects over TLS trusting the local CA", "[integration][platform]") {
  iot::testing::PgDatabase database;
  REQUIRE(iot::store::Migrator(database.Dsn()).Migrate());
  iot::store::Db db(iot::store::DbSettings{database.Dsn()});
  iot::store::ProductCreate product;
  product.product_key = "tlsProduct01";
  product.name = "tls";
  REQUIRE(iot::store::CreateProduct(db, product));
  iot::store::DeviceCreate create;
  create.device_name = "tls-dev1";
  auto created = iot::store::CreateDevice(db, "tlsProduct01", create);
  REQUIRE(created);
  iot::testing::MosquittoOptions options;
  options.pg_dsn = database.Dsn();
  options.tls = true;
  iot::testing::MosquittoProcess broker(options);

  iot::testing::DeviceConnect device;
  device.uri = broker.TlsUri();
  device.ca_file = broker.CaFile();
  device.product_key = "tlsProduct01";
  device.device_name = "tls-dev1";
  device.device_secret = created->secret;
  iot::testing::MqttTestClient client;
  CHECK(client.ConnectDevice(device) == 0);
  CHECK(client.Subscribe("/sys/tlsProduct01/tls-dev1/thing/service/+") == 1);
  // Without the CA the server certificate is not trusted.
  iot::testing::DeviceConnect untrusted = device;
  untrusted.ca_file = "/dev/null";
  iot::testing::MqttTestClient other;
  CHECK(other.ConnectDevice(untrusted) != 0);
}

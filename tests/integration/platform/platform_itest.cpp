// The platform as a whole: a device's connection state reaches the REST API through the broker
// plugin's lifecycle messages and the gateway; devices connect over TLS with the local CA.

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

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
  CHECK(
      iot::testing::PollUntil([&] { return DeviceStatus(api.Port(), "lamp-0001") == "online"; }, 20s, 20ms));
  auto body = nlohmann::json::parse(
      iot::testing::HttpRequest(
          api.Port(), "GET",
          std::string("/api/v1/products/") + iot::gateway::itest::kPk + "/devices/lamp-0001",
          {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}})
          .body);
  CHECK(body["activatedAt"].is_number());
  CHECK(body["ipAddress"] == "127.0.0.1");

  device->Disconnect();
  CHECK(
      iot::testing::PollUntil([&] { return DeviceStatus(api.Port(), "lamp-0001") == "offline"; }, 20s, 20ms));
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

namespace {

bool Connects(const std::string& dsn) {
  try {
    pqxx::connection c(dsn);
    return c.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

// Runs one statement as `dsn`'s role; false when PostgreSQL refuses it.
bool Runs(const std::string& dsn, const std::string& sql) {
  try {
    pqxx::connection c(dsn);
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
    return true;
  } catch (const pqxx::sql_error&) {
    return false;
  }
}

int Mode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

}  // namespace

TEST_CASE(
    "Platform: PostgreSQL - scram only, no password no entry, service roles are no superusers and hold "
    "only their grants, also on tables created later",
    "[integration][platform][security][pg]") {
  iot::gateway::itest::PgProcess pg;  // deploy/lib/platform.sh: iot_pg_init + iot_pg_setup_platform
  const std::string port = std::to_string(pg.Port());
  REQUIRE(iot::store::Migrator(pg.Dsn("iot_migrator")).Migrate().has_value());

  // No trust anywhere: no password, a wrong one, the Unix socket without one: all refused.
  std::ifstream hba_file(pg.Dir() + "/pg/pg_hba.conf");
  std::stringstream hba;
  hba << hba_file.rdbuf();
  int rules = 0;
  for (std::string line; std::getline(hba, line);) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    ++rules;
    CAPTURE(line);
    CHECK(line.find("scram-sha-256") != std::string::npos);
    CHECK(line.find("trust") == std::string::npos);
  }
  CHECK(rules >= 2);
  CHECK_FALSE(Connects("postgresql://postgres@127.0.0.1:" + port + "/postgres"));
  CHECK_FALSE(Connects("postgresql://iot_api@127.0.0.1:" + port + "/iot"));
  CHECK_FALSE(Connects("postgresql://iot_api:wrong@127.0.0.1:" + port + "/iot"));
  CHECK_FALSE(Connects("host=" + pg.Dir() + "/pg port=" + port + " user=postgres dbname=postgres"));
  CHECK(Connects(pg.Dsn("postgres", "postgres")));
  // The generated passwords: owner only.
  CHECK(Mode(pg.Dir() + "/pg.secrets") == 0700);
  for (const char* role : {"postgres", "iot_migrator", "iot_api", "iot_gateway", "iot_broker"}) {
    CAPTURE(role);
    CHECK(Mode(pg.Dir() + "/pg.secrets/" + role) == 0600);
  }

  // No service role can do what a superuser can.
  for (const char* role : {"iot_migrator", "iot_api", "iot_gateway", "iot_broker"}) {
    CAPTURE(role);
    const std::string dsn = pg.Dsn(role);
    REQUIRE(Connects(dsn));
    CHECK_FALSE(Runs(dsn, "COPY (SELECT 1) TO PROGRAM 'true'"));
    CHECK_FALSE(Runs(dsn, "SELECT pg_read_file('/etc/hostname')"));
    CHECK_FALSE(Runs(dsn, "CREATE ROLE intruder LOGIN SUPERUSER"));
    CHECK_FALSE(Runs(dsn, "ALTER SYSTEM SET log_statement = 'none'"));
  }
  // The gateway: rows, not the schema, not operators' tokens.
  const std::string gw = pg.Dsn("iot_gateway");
  CHECK(Runs(gw, "INSERT INTO products (product_key, name) VALUES ('gwtest01', 'x')"));
  CHECK(Runs(gw, "SELECT count(*) FROM devices"));
  CHECK_FALSE(Runs(gw, "SELECT count(*) FROM api_tokens"));
  CHECK_FALSE(Runs(gw, "DROP TABLE devices"));
  CHECK_FALSE(Runs(gw, "CREATE TABLE mine (x int)"));
  // The broker plugin: reads devices and products, marks devices offline, nothing else.
  const std::string broker = pg.Dsn("iot_broker");
  CHECK(Runs(broker,
             "SELECT d.secret, p.timestamp_window_s FROM devices d JOIN products p USING (product_key)"));
  CHECK(
      Runs(broker, "UPDATE devices SET status = 'offline', last_offline_at = now() WHERE status = 'online'"));
  CHECK_FALSE(Runs(broker, "UPDATE devices SET secret = 'x'"));
  CHECK_FALSE(Runs(broker, "DELETE FROM devices"));
  CHECK_FALSE(Runs(broker, "SELECT count(*) FROM property_history"));
  // A table a later migration creates (as the owner) is the gateway's to use at once.
  REQUIRE(Runs(pg.Dsn("iot_migrator"), "CREATE TABLE later_table (id bigserial PRIMARY KEY, v text)"));
  CHECK(Runs(gw, "INSERT INTO later_table (v) VALUES ('ok')"));
  CHECK(Runs(gw, "SELECT v FROM later_table"));
  // iot-api migrates at start and maintains partitions: it acts as the owner, still no superuser.
  CHECK(Runs(pg.Dsn("iot_api"), "CREATE TABLE api_partition_probe (x int)"));
}

TEST_CASE(
    "Platform: mosquitto.conf (it holds the plugin's database password) is owner-only - plain MQTT on "
    "loopback, TLS on all",
    "[integration][platform][security]") {
  const std::string dir = iot::testing::MakeTempDir("conf") + "/mqtt";
  // As deploy/local/run.sh calls it by default: plain MQTT on loopback, TLS on every interface.
  const std::string script =
      "bash -c 'set -e; source \"" IOT_SOURCE_DIR "/deploy/lib/platform.sh\"; iot_mosquitto_conf " + dir +
      " 127.0.0.1 1883 8883 ca.crt server.crt server.key 0.0.0.0; iot_mosquitto_plugin_conf " + dir +
      " " IOT_BROKER_PLUGIN_PATH " postgresql://iot_broker:secret@127.0.0.1:1/iot gw api false' >" + dir +
      ".log 2>&1";
  REQUIRE(iot::testing::RunShell(script) == 0);
  CHECK(Mode(dir) == 0700);
  CHECK(Mode(dir + "/mosquitto.conf") == 0600);
  std::ifstream conf(dir + "/mosquitto.conf");
  std::stringstream text;
  text << conf.rdbuf();
  CHECK(text.str().find("plugin_opt_pg_dsn postgresql://iot_broker:secret@") != std::string::npos);
  CHECK(text.str().find("listener 1883 127.0.0.1\n") != std::string::npos);
  CHECK(text.str().find("listener 8883 0.0.0.0\n") != std::string::npos);
  // deploy/local/run.sh's defaults: plain MQTT on loopback unless IOT_MQTT_BIND opens it, TLS everywhere.
  std::ifstream run_sh(IOT_SOURCE_DIR "/deploy/local/run.sh");
  std::stringstream run;
  run << run_sh.rdbuf();
  CHECK(run.str().find("MQTT_BIND=${IOT_MQTT_BIND:-127.0.0.1}") != std::string::npos);
  CHECK(run.str().find("MQTTS_BIND=${IOT_MQTTS_BIND:-0.0.0.0}") != std::string::npos);
}

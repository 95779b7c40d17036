#include "gateway_stack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "iot/store/devices.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/testing/env.hpp"

namespace iot::gateway::itest {
namespace {

std::string Shell(const std::string& dir, const std::string& body) {
  return "bash -c 'set -e; source \"" IOT_SOURCE_DIR "/deploy/lib/platform.sh\"; " + body + "' >>" + dir +
         "/pg-control.log 2>&1";
}

}  // namespace

std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

PgProcess::PgProcess() : dir_(testing::MakeTempDir("gw-pg")), port_(testing::FreePort()) {
  const int rc = testing::RunShell(Shell(dir_, "iot_pg_init " + dir_ + "/pg 0"));
  if (rc != 0) {
    throw std::runtime_error("initdb failed, see " + dir_ + "/pg-control.log");
  }
  Start();
  // The platform's roles and database, exactly as deploy/local/run.sh makes them.
  if (testing::RunShell(
          Shell(dir_, "iot_pg_setup_platform " + dir_ + "/pg " + std::to_string(port_) + " iot")) != 0) {
    throw std::runtime_error("role setup failed, see " + dir_ + "/pg-control.log");
  }
}

PgProcess::~PgProcess() { Stop(); }

void PgProcess::Start() {
  const int rc = testing::RunShell(
      Shell(dir_, "iot_pg_start " + dir_ + "/pg " + std::to_string(port_) + " " + dir_ + "/pg.log"));
  if (rc != 0) {
    throw std::runtime_error("PostgreSQL did not start, see " + dir_);
  }
  running_ = true;
}

void PgProcess::Stop() {
  if (!running_) {
    return;
  }
  testing::RunShell(Shell(dir_, "iot_pg_stop " + dir_ + "/pg"));
  running_ = false;
}

std::string PgProcess::Password(const std::string& role) const {
  std::ifstream in(dir_ + "/pg.secrets/" + role);
  std::string password;
  std::getline(in, password);
  return password;
}

std::string PgProcess::Dsn(const std::string& role, const std::string& db) const {
  return "postgresql://" + role + ":" + Password(role) + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Stack::Stack(store::ValidationMode mode, bool private_pg, bool websockets) {
  if (private_pg) {
    pg_ = std::make_unique<PgProcess>();
    dsn_ = pg_->Dsn();
  } else {
    database_ = std::make_unique<testing::PgDatabase>();
    dsn_ = database_->Dsn();
  }
  store::Migrator migrator(dsn_);
  REQUIRE(migrator.Migrate().has_value());
  db_ = std::make_unique<store::Db>(store::DbSettings{dsn_});
  store::ProductCreate product;
  product.product_key = kPk;
  product.name = "gateway test";
  product.validation = mode;
  REQUIRE(store::CreateProduct(*db_, product).has_value());
  PublishModel(ReadFixture("tsl/valid/reference_example.json"));
  broker_ = std::make_unique<testing::MosquittoProcess>(testing::MosquittoOptions{
      ServiceDsn("iot_broker"), false, 1, /*tls=*/websockets, /*websockets=*/websockets});
}

Stack::~Stack() = default;

void Stack::PublishModel(const std::string& tsl_json) {
  REQUIRE(store::PutThingModelDraft(*db_, kPk, "", tsl_json).has_value());
  REQUIRE(store::PublishThingModel(*db_, kPk, tsl_json, "test").has_value());
}

void Stack::SetMode(store::ValidationMode mode) {
  store::ProductPatch patch;
  patch.validation = mode;
  REQUIRE(store::PatchProduct(*db_, kPk, patch).has_value());
}

std::int64_t Stack::AddDevice(const std::string& name) {
  store::DeviceCreate create;
  create.device_name = name;
  auto device = store::CreateDevice(*db_, kPk, create);
  REQUIRE(device.has_value());
  pqxx::connection c(dsn_);
  pqxx::work tx(c);
  tx.exec_params("UPDATE devices SET secret = $1 WHERE id = $2", std::string(kSecret), device->id);
  tx.commit();
  return device->id;
}

std::int64_t Stack::DeviceId(const std::string& name) {
  auto d = store::GetDevice(*db_, kPk, name);
  REQUIRE(d.has_value());
  return d->id;
}

std::int64_t Stack::Count(const std::string& sql, std::int64_t device_id) {
  pqxx::connection c(dsn_);
  pqxx::work tx(c);
  return tx.exec_params1(sql, device_id)[0].as<std::int64_t>();
}

std::optional<std::string> Stack::Scalar(const std::string& sql, std::int64_t device_id) {
  pqxx::connection c(dsn_);
  pqxx::work tx(c);
  auto r = tx.exec_params(sql, device_id);
  if (r.empty() || r[0][0].is_null()) {
    return std::nullopt;
  }
  return r[0][0].as<std::string>();
}

std::unique_ptr<testing::MqttTestClient> Stack::Connect(const std::string& device_name) {
  auto device = std::make_unique<testing::MqttTestClient>();
  testing::DeviceConnect c;
  c.uri = broker_->Uri();
  c.product_key = kPk;
  c.device_name = device_name;
  c.device_secret = kSecret;
  // A device added after the broker started reaches the plugin through NOTIFY within a second.
  REQUIRE(testing::PollUntil([&] { return device->ConnectDevice(c) == 0; }, std::chrono::seconds(3),
                             std::chrono::milliseconds(50)));
  const std::string base = std::string("/sys/") + kPk + "/" + device_name;
  REQUIRE(device->Subscribe(base + "/thing/#", 1) <= 1);
  REQUIRE(device->Subscribe(std::string("/ext/ntp/") + kPk + "/" + device_name + "/response", 0) == 0);
  return device;
}

GatewayProcess::GatewayProcess(Stack& stack, const std::string& client_id,
                               std::map<std::string, std::string> extra_env)
    : metrics_port_(testing::FreePort()) {
  std::map<std::string, std::string> env = {
      {"IOT_PG_DSN", stack.ServiceDsn("iot_gateway")},
      {"IOT_MQTT_HOST", "127.0.0.1"},
      {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
      {"IOT_MQTT_USERNAME", testing::kGatewayUser},
      {"IOT_MQTT_PASSWORD", testing::kGatewaySecret},
      {"IOT_GATEWAY_CLIENT_ID", client_id},
      {"IOT_GATEWAY_METRICS_PORT", std::to_string(metrics_port_)},
      {"IOT_LOG_LEVEL", "info"},
  };
  for (auto& [k, v] : extra_env) {
    env[k] = v;
  }
  const std::string log = testing::MakeTempDir("gw") + "/" + client_id + ".log";
  process_ = testing::ChildProcess({IOT_GATEWAY_BINARY}, env, log);
  process_.Start();
}

GatewayProcess::~GatewayProcess() { process_.Stop(); }

bool GatewayProcess::WaitConnected(std::chrono::milliseconds timeout) {
  return testing::PollUntil([&] { return process_.LogContains("MQTT connected"); }, timeout,
                            std::chrono::milliseconds(20));
}

std::string GatewayProcess::Metrics() {
  const std::string response = Get("/metrics");
  const std::size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? response : response.substr(body + 4);
}

std::string GatewayProcess::Get(const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(metrics_port_));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string body;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
    (void)::send(fd, req.data(), req.size(), 0);
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
      body.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return body;
}

double GatewayProcess::Metric(const std::string& prefix) {
  const std::string text = Metrics();
  std::size_t pos = 0;
  while ((pos = text.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const std::size_t space = text.find(' ', pos + prefix.size());
      return std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
    }
    pos += prefix.size();
  }
  return 0;
}

std::optional<nlohmann::json> Request(testing::MqttTestClient& device, const std::string& topic,
                                      const nlohmann::json& message, std::chrono::milliseconds timeout) {
  if (!device.Publish(topic, message.dump(), 1)) {
    return std::nullopt;
  }
  const std::string reply_topic =
      topic.starts_with("/ext/ntp/") ? topic.substr(0, topic.size() - 7) + "response" : topic + "_reply";
  const std::string id = message.contains("id") ? message["id"].get<std::string>() : "";
  auto m = device.WaitMessageWhere(
      [&](const testing::ReceivedMessage& r) {
        if (r.topic != reply_topic) {
          return false;
        }
        auto j = nlohmann::json::parse(r.payload, nullptr, false);
        return !j.is_discarded() && (id.empty() || (j.contains("id") && j["id"] == id));
      },
      timeout);
  if (!m) {
    return std::nullopt;
  }
  return nlohmann::json::parse(m->payload);
}

}  // namespace iot::gateway::itest

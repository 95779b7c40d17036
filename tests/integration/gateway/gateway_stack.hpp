#pragma once

// Integration-test stack for iot-gateway: a database with the schema, a product with a published
// thing model and devices, the real Mosquitto with the project's plugin, real gateway processes and
// real MQTT devices. A private PostgreSQL (PgProcess) for tests that stop and restart the server.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/store/db.hpp"
#include "iot/store/types.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/pg_database.hpp"
#include "iot/testing/process.hpp"

namespace iot::gateway::itest {

inline constexpr const char* kPk = "a1GwTest001";
inline constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

// A PostgreSQL cluster of the test's own (deploy/lib/platform.sh functions), so it can be stopped
// and started without disturbing the harness's shared server.
class PgProcess {
 public:
  PgProcess();
  ~PgProcess();
  void Start();
  void Stop();
  int Port() const { return port_; }
  // A platform role's connection string (deploy/lib/platform.sh roles: iot_migrator owns the schema,
  // iot_api, iot_gateway, iot_broker), to database `db`.
  std::string Dsn(const std::string& role = "iot_migrator", const std::string& db = "iot") const;
  std::string Password(const std::string& role) const;
  std::string Dir() const { return dir_; }

 private:
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
};

// A database (shared harness server, or a private one) with the schema, product kPk and devices.
class Stack {
 public:
  // `private_pg`: use a PgProcess instead of the harness server.
  // `websockets`: the broker also listens for MQTT over WebSocket, ws and (with TLS) wss.
  explicit Stack(store::ValidationMode mode = store::ValidationMode::kWeak, bool private_pg = false,
                 bool websockets = false);
  ~Stack();

  std::string Dsn() const { return dsn_; }
  // What a service connects with: its own role on a private cluster, the test database's owner otherwise.
  std::string ServiceDsn(const std::string& role) const { return pg_ ? pg_->Dsn(role) : dsn_; }
  store::Db& Db() { return *db_; }
  PgProcess* Pg() { return pg_.get(); }
  testing::MosquittoProcess& Broker() { return *broker_; }

  std::int64_t AddDevice(const std::string& name);
  std::int64_t DeviceId(const std::string& name);
  void PublishModel(const std::string& tsl_json);
  void SetMode(store::ValidationMode mode);
  // One number from SQL (tests read rows directly where no repository call fits).
  std::int64_t Count(const std::string& sql, std::int64_t device_id);
  std::optional<std::string> Scalar(const std::string& sql, std::int64_t device_id);

  std::unique_ptr<testing::MqttTestClient> Connect(const std::string& device_name);

 private:
  std::unique_ptr<PgProcess> pg_;
  std::unique_ptr<testing::PgDatabase> database_;
  std::string dsn_;
  std::unique_ptr<store::Db> db_;
  std::unique_ptr<testing::MosquittoProcess> broker_;
};

// One iot-gateway process.
class GatewayProcess {
 public:
  GatewayProcess(Stack& stack, const std::string& client_id,
                 std::map<std::string, std::string> extra_env = {});
  ~GatewayProcess();
  // Waits for "MQTT connected" in the log.
  bool WaitConnected(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  std::string Metrics();                          // GET /metrics
  std::string Get(const std::string& path);       // the whole HTTP response (status line first)
  double Metric(const std::string& line_prefix);  // value of the first line starting with it
  testing::ChildProcess& Process() { return process_; }
  std::string LogTail() const { return process_.LogTail(); }

 private:
  int metrics_port_ = 0;
  testing::ChildProcess process_;
};

// Publishes an Alink request and waits for the reply with the same id on `<topic>_reply`.
std::optional<nlohmann::json> Request(testing::MqttTestClient& device, const std::string& topic,
                                      const nlohmann::json& message,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

std::string ReadFixture(const std::string& relative);

}  // namespace iot::gateway::itest

#pragma once

// The real iot-api binary on a free port over a database of its own; its log is shown on failure.
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "iot/testing/env.hpp"
#include "iot/testing/pg_database.hpp"
#include "iot/testing/process.hpp"

namespace iot::api::itest {

using Env = std::map<std::string, std::string>;
inline const std::string kAdminToken = "itest-admin-token-0123456789";

class ApiProcess {
 public:
  // `dsn` empty: a fresh database of its own.
  explicit ApiProcess(Env extra_env = {}, std::string dsn = "") {
    if (dsn.empty()) {
      pg_ = std::make_unique<iot::testing::PgDatabase>();
      dsn = pg_->Dsn();
    }
    dsn_ = dsn;
    static std::atomic<int> counter{0};
    const std::string dir = iot::testing::RequireEnv("IOT_TEST_TMP");
    // IOT_HTTP_PORT given: that port (an instance restarted where links already point).
    port_ =
        extra_env.count("IOT_HTTP_PORT") ? std::stoi(extra_env["IOT_HTTP_PORT"]) : iot::testing::FreePort();
    ops_port_ = iot::testing::FreePort();
    Env env = {{"IOT_HTTP_PORT", std::to_string(port_)},
               {"IOT_OPS_PORT", std::to_string(ops_port_)},
               {"IOT_HTTP_BIND", "127.0.0.1"},
               {"IOT_ADMIN_TOKEN", kAdminToken},
               {"IOT_PG_DSN", dsn_},
               {"IOT_LOG_LEVEL", "debug"}};
    for (auto& [k, v] : extra_env) {
      env[k] = v;
    }
    process_ = iot::testing::ChildProcess(
        {IOT_API_BINARY}, env,
        dir + "/iot-api-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".log");
    process_.Start();
    if (!iot::testing::WaitForPort(port_, std::chrono::seconds(20))) {
      FAIL("iot-api did not start listening:\n" << process_.LogTail());
    }
  }

  int Port() const { return port_; }
  // The operations listener (/metrics, /readyz details without a token).
  int OpsPort() const { return ops_port_; }
  const std::string& Dsn() const { return dsn_; }
  iot::testing::ChildProcess& Process() { return process_; }
  std::string Log() const { return process_.LogTail(8000); }

 private:
  std::unique_ptr<iot::testing::PgDatabase> pg_;
  std::string dsn_;
  int port_ = 0;
  int ops_port_ = 0;
  iot::testing::ChildProcess process_;
};

}  // namespace iot::api::itest

#pragma once

#include <string>

#include "iot/testing/process.hpp"

namespace iot::testing {

// Service-account credentials the test brokers are configured with.
inline constexpr const char* kGatewayUser = "iot-gateway";
inline constexpr const char* kGatewaySecret = "test-gateway-secret";
inline constexpr const char* kApiUser = "iot-api";
inline constexpr const char* kApiSecret = "test-api-secret";

struct MosquittoOptions {
  std::string pg_dsn;            // the database the plugin reads devices from; empty = no plugin
  bool allow_anonymous = false;  // plugin development setting
  int stats_interval_s = 1;
  bool tls = false;         // also a TLS listener, with a CA and server certificate made for the test
  bool websockets = false;  // also MQTT over WebSocket (ws; and wss when `tls`)
};

// A private Mosquitto on a free loopback port, configured exactly like deploy/local/run.sh does it
// (deploy/lib/platform.sh writes the configuration), with the project's plugin bound to one test
// database. Stopped on destruction.
class MosquittoProcess final {
 public:
  explicit MosquittoProcess(MosquittoOptions options);
  ~MosquittoProcess();
  MosquittoProcess(const MosquittoProcess&) = delete;
  MosquittoProcess& operator=(const MosquittoProcess&) = delete;

  int Port() const { return port_; }
  std::string Uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  std::string TlsUri() const { return "ssl://127.0.0.1:" + std::to_string(tls_port_); }
  int TlsPort() const { return tls_port_; }
  int WsPort() const { return ws_port_; }
  int WssPort() const { return wss_port_; }
  std::string WsUri() const { return "ws://127.0.0.1:" + std::to_string(ws_port_) + "/mqtt"; }
  std::string WssUri() const { return "wss://127.0.0.1:" + std::to_string(wss_port_) + "/mqtt"; }
  std::string CaFile() const { return dir_ + "/../" + ca_name_; }
  void Restart();
  void Stop();
  void Start();
  ChildProcess& Process() { return process_; }
  std::string LogTail() const { return process_.LogTail(); }

 private:
  MosquittoOptions options_;
  std::string dir_;
  int port_ = 0;
  int tls_port_ = 0;
  int ws_port_ = 0;
  int wss_port_ = 0;
  std::string ca_name_;
  ChildProcess process_;
};

}  // namespace iot::testing

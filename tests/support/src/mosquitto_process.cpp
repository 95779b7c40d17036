#include "iot/testing/mosquitto_process.hpp"

#include <cstdlib>
#include <stdexcept>

namespace iot::testing {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

}  // namespace

MosquittoProcess::MosquittoProcess(MosquittoOptions options)
    : options_(std::move(options)), dir_(MakeTempDir("mqtt")), port_(FreePort()) {
  std::string script = "set -e; source " + Quote(std::string(IOT_SOURCE_DIR) + "/deploy/lib/platform.sh");
  if (options_.tls) {
    // The same local CA + server certificate deploy/local/run.sh makes; the CA stays outside the
    // broker's directory for the clients.
    tls_port_ = FreePort();
    ca_name_ = "ca-" + std::to_string(port_) + ".crt";
    const std::string ca = Quote(dir_ + "/../" + ca_name_);
    script += "; iot_make_tls " + Quote(dir_ + "/tls") + " localhost; cp " + Quote(dir_ + "/tls/ca.crt") +
              " " + ca + "; iot_mosquitto_conf " + Quote(dir_) + " 127.0.0.1 " + std::to_string(port_) + " " +
              std::to_string(tls_port_) + " " + Quote(dir_ + "/tls/ca.crt") + " " +
              Quote(dir_ + "/tls/server.crt") + " " + Quote(dir_ + "/tls/server.key");
  } else {
    script += "; iot_mosquitto_conf " + Quote(dir_) + " 127.0.0.1 " + std::to_string(port_);
  }
  if (options_.websockets) {
    ws_port_ = FreePort();
    script += "; iot_mosquitto_ws_conf " + Quote(dir_) + " 127.0.0.1 " + std::to_string(ws_port_);
    if (options_.tls) {
      wss_port_ = FreePort();
      script += " " + std::to_string(wss_port_) + " " + Quote(dir_ + "/tls/ca.crt") + " " +
                Quote(dir_ + "/tls/server.crt") + " " + Quote(dir_ + "/tls/server.key");
    }
  }
  if (!options_.pg_dsn.empty()) {
    script += "; IOT_BROKER_STATS_INTERVAL_S=" + std::to_string(options_.stats_interval_s) +
              " iot_mosquitto_plugin_conf " + Quote(dir_) + " " + Quote(IOT_BROKER_PLUGIN_PATH) + " " +
              Quote(options_.pg_dsn) + " " + Quote(kGatewaySecret) + " " + Quote(kApiSecret) + " " +
              (options_.allow_anonymous ? "true" : "false");
  }
  if (const char* debug = std::getenv("IOT_TEST_MQTT_DEBUG"); debug != nullptr && *debug == '1') {
    // Every packet in the broker log, for debugging a test.
    script += "; printf 'log_type all\\nconnection_messages true\\n' >> " + Quote(dir_ + "/mosquitto.conf");
  }
  script += "; iot_mosquitto_prepare " + Quote(dir_);
  if (RunShell("bash -c " + Quote(script), dir_ + "/setup.log") != 0) {
    throw std::runtime_error("could not write the Mosquitto configuration (see " + dir_ + "/setup.log)");
  }
  process_ = ChildProcess({"/usr/sbin/mosquitto", "-c", dir_ + "/mosquitto.conf"}, {},
                          dir_ + "/../mosquitto-" + std::to_string(port_) + ".log");
  Start();
}

MosquittoProcess::~MosquittoProcess() { Stop(); }

void MosquittoProcess::Start() {
  process_.Start();
  if (!WaitForPort(port_)) {
    throw std::runtime_error("Mosquitto did not start:\n" + process_.LogTail());
  }
}

void MosquittoProcess::Stop() { process_.Stop(); }

void MosquittoProcess::Restart() {
  Stop();
  Start();
}

}  // namespace iot::testing

#pragma once

#include <string>
#include <vector>

#include "iot/testing/process.hpp"

namespace iot::testing {

// A private RabbitMQ (Debian's rabbitmq-server, the upstream start script run directly) on free loopback
// ports: AMQP (RABBITMQ_NODE_PORT), Erlang distribution (RABBITMQ_DIST_PORT) and its own epmd
// (ERL_EPMD_PORT), with its own node name, cookie, HOME, database, log and configuration under a
// temporary directory, and only the plugins named (e.g. rabbitmq_amqp1_0). The database survives Stop/Kill,
// so a restarted broker has the durable exchanges, queues and persistent messages of the last run. The
// default user guest/guest may connect from loopback. Stopped (and its epmd ended) on destruction.
class RabbitMqProcess final {
 public:
  explicit RabbitMqProcess(const std::vector<std::string>& plugins = {});
  ~RabbitMqProcess();
  RabbitMqProcess(const RabbitMqProcess&) = delete;
  RabbitMqProcess& operator=(const RabbitMqProcess&) = delete;

  int Port() const { return port_; }
  std::string Url() const { return "amqp://guest:guest@127.0.0.1:" + std::to_string(port_) + "/"; }
  // Starts it and waits until it accepts AMQP connections (throws when it does not within two minutes).
  void Start();
  // SIGTERM (an orderly shutdown), SIGKILL for whatever is left after 30 s.
  void Stop();
  // SIGKILL to the broker and everything it started (a crash).
  void Kill();
  std::string LogTail() const { return process_.LogTail(); }

 private:
  std::string dir_;
  int port_ = 0;
  int dist_port_ = 0;
  int epmd_port_ = 0;
  ChildProcess process_;
};

}  // namespace iot::testing

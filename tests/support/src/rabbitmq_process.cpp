#include "iot/testing/rabbitmq_process.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>

namespace iot::testing {
namespace {

constexpr const char* kServerScript = "/usr/lib/rabbitmq/bin/rabbitmq-server";

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

std::string RandomCookie() {
  std::random_device rd;
  static constexpr char kLetters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string out;
  for (int i = 0; i < 20; ++i) {
    out.push_back(kLetters[rd() % 26]);
  }
  return out;
}

}  // namespace

RabbitMqProcess::RabbitMqProcess(const std::vector<std::string>& plugins)
    : dir_(MakeTempDir("rabbitmq")), port_(FreePort()), dist_port_(FreePort()), epmd_port_(FreePort()) {
  // FreePort can hand out one port twice in a row only if it is released in between: ask again.
  while (dist_port_ == port_) {
    dist_port_ = FreePort();
  }
  while (epmd_port_ == port_ || epmd_port_ == dist_port_) {
    epmd_port_ = FreePort();
  }
  const std::string cookie = dir_ + "/.erlang.cookie";
  WriteFile(cookie, RandomCookie());
  ::chmod(cookie.c_str(), 0400);
  WriteFile(dir_ + "/rabbitmq.conf", "disk_free_limit.absolute = 10MB\n");
  std::string enabled = "[";
  for (const auto& plugin : plugins) {
    enabled += (enabled.size() > 1 ? "," : "") + plugin;
  }
  WriteFile(dir_ + "/enabled_plugins", enabled + "].\n");
  WriteFile(dir_ + "/rabbitmq-env.conf", "");
  const std::map<std::string, std::string> env = {
      {"HOME", dir_},
      {"RABBITMQ_NODENAME", "rabbit" + std::to_string(port_) + "@localhost"},
      {"RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_NODE_PORT", std::to_string(port_)},
      {"RABBITMQ_DIST_PORT", std::to_string(dist_port_)},
      {"ERL_EPMD_PORT", std::to_string(epmd_port_)},
      {"ERL_EPMD_ADDRESS", "127.0.0.1"},
      {"RABBITMQ_MNESIA_BASE", dir_ + "/mnesia"},
      {"RABBITMQ_LOG_BASE", dir_ + "/log"},
      {"RABBITMQ_LOGS", "-"},  // to standard output: the process log the test prints
      {"RABBITMQ_CONFIG_FILE", dir_ + "/rabbitmq.conf"},
      {"RABBITMQ_ADVANCED_CONFIG_FILE", dir_ + "/advanced.config"},
      {"RABBITMQ_ENABLED_PLUGINS_FILE", dir_ + "/enabled_plugins"},
      {"RABBITMQ_CONF_ENV_FILE", dir_ + "/rabbitmq-env.conf"},
      {"RABBITMQ_PID_FILE", dir_ + "/rabbitmq.pid"},
      // Two shared cores in CI: no busy-waiting schedulers. Distribution on loopback only.
      {"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
       "+sbwt none +sbwtdcpu none +sbwtdio none -kernel inet_dist_use_interface {127,0,0,1}"},
  };
  process_ = ChildProcess({kServerScript}, env, dir_ + "/../rabbitmq-" + std::to_string(port_) + ".log");
  Start();
}

RabbitMqProcess::~RabbitMqProcess() {
  Stop();
  // The epmd the node started daemonizes (outside the process group): end it too.
  (void)RunShell("epmd -port " + std::to_string(epmd_port_) + " -kill", dir_ + "/epmd-kill.log");
}

void RabbitMqProcess::Start() {
  process_.Start();
  if (!WaitForPort(port_, std::chrono::minutes(2))) {
    const std::string tail = process_.LogTail();
    Kill();
    throw std::runtime_error("RabbitMQ did not start:\n" + tail);
  }
}

void RabbitMqProcess::Stop() {
  const pid_t group = process_.Pid();
  process_.Stop(std::chrono::seconds(30));
  if (group > 0) {
    ::kill(-group, SIGKILL);  // anything of it still alive (the start script ran it in its own group)
  }
}

void RabbitMqProcess::Kill() {
  const pid_t group = process_.Pid();
  if (group > 0) {
    ::kill(-group, SIGKILL);  // the start script, the Erlang VM and its port programs at once
  }
  process_.Kill();  // reaps the script
}

}  // namespace iot::testing

#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace iot::testing {

// A child process for integration tests (a service binary, Mosquitto, ...). Output goes to a log file
// that is printed when a test fails (see LogTail). Stopped with SIGTERM (then SIGKILL) on destruction.
class ChildProcess final {
 public:
  ChildProcess() = default;
  // `env` adds to (or overrides) this process's environment.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env, std::string log_path);
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void Start();
  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (as from waitpid), -1 if killed.
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  void Kill();  // SIGKILL now (a crash)
  bool Running();
  pid_t Pid() const { return pid_; }
  const std::string& LogPath() const { return log_path_; }
  std::string LogTail(std::size_t max_bytes = 4000) const;
  bool LogContains(const std::string& needle) const;
  std::size_t LogCount(const std::string& needle) const;  // occurrences in the whole log

 private:
  std::vector<std::string> argv_;
  std::map<std::string, std::string> env_;
  std::string log_path_;
  pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bind to port 0, read it back).
int FreePort();
// True once something accepts TCP connections on 127.0.0.1:port, polling until `timeout`.
bool WaitForPort(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
// A fresh directory under IOT_TEST_TMP (or /tmp), world-traversable so that services that drop
// privileges (Mosquitto) can use it.
std::string MakeTempDir(const std::string& prefix);
// Runs a shell command; returns its exit status. Output goes to `log_path` when given.
int RunShell(const std::string& command, const std::string& log_path = "");

}  // namespace iot::testing

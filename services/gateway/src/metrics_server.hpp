#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace iot::gateway {

// A tiny HTTP/1.0 responder on one thread (POSIX sockets, no Beast): GET /metrics (Prometheus text)
// GET /healthz (connected to the broker) and GET /readyz (`ready`: broker and database). One request per
// connection, 1 s read timeout, request head up to 8 KiB.
class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  using Healthy = std::function<bool()>;

  MetricsServer(std::string bind, int port, Render render, Healthy healthy, Healthy ready = {});
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Binds and starts serving; false (with a log line) when the port cannot be bound.
  bool Start();
  void Stop();
  int Port() const { return port_; }

 private:
  void Loop();
  void Serve(int fd);

  std::string bind_;
  int port_;
  Render render_;
  Healthy healthy_;
  Healthy ready_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace iot::gateway

#pragma once

#include <functional>
#include <memory>
#include <string>

#include "iot/http/server.hpp"

namespace iot::gateway {

// The gateway's operations endpoints on the shared HTTP server (libs/http, Boost.Beast, a thread of its
// own): GET /metrics (Prometheus text), GET /healthz (connected to the broker) and GET /readyz (`ready`:
// broker and database). One request per connection; the request must arrive within 1 s and its head
// within 8 KiB; at most 32 connections at once.
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
  std::string bind_;
  int port_;
  Render render_;
  Healthy healthy_;
  Healthy ready_;
  http::Server server_;
};

}  // namespace iot::gateway

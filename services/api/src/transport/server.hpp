#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace iot::api {

class MetricsRegistry;
class RequestHandler;
namespace stream {
class Service;
}

// Settings of the HTTP listener; validated by config.cpp before the server is built.
struct ServerSettings {
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 8080;  // 0: any free port (tests read it back with Server::Port())
  int threads = 2;
  std::size_t max_connections = 10000;
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 1024 * 1024;
  // Bulk device imports (POST .../devices:import, up to 10,000 rows) have their own, larger limit.
  std::size_t import_body_limit = 4 * 1024 * 1024;
  // A connection with no complete request for this long (while nothing is in flight) is closed.
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  std::size_t pipeline_limit = 16;  // requests read ahead of their responses per connection
  std::chrono::milliseconds shutdown_grace{10000};
  std::string tls_cert_file;  // both set: HTTPS only
  std::string tls_key_file;
};

// The HTTP(S) server: listener, sessions, signal handling. Hides Beast (pimpl) so only the transport
// TUs compile it. Construct, Start() (binds; throws std::runtime_error on failure), then Run().
class Server final {
 public:
  Server(ServerSettings settings, RequestHandler& handler, MetricsRegistry& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // WebSocket upgrades of GET /api/v1/stream go to `service` (call before Start()).
  void SetStream(stream::Service& service);
  void Start();
  // Runs the I/O threads until shutdown completes: SIGTERM/SIGINT or Shutdown() stops accepting,
  // lets in-flight requests finish (up to shutdown_grace), then stops.
  void Run();
  // Thread-safe; starts the graceful shutdown.
  void Shutdown();
  std::uint16_t Port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iot::api

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace iot::api {

class MetricsRegistry;
class RequestHandler;
namespace stream {
class Service;
}

// Settings of the HTTP listeners; validated by config.cpp before the server is built. Up to three
// listeners share the sessions and the limits: plain HTTP (bind_address:port), HTTPS
// (https_bind_address:https_port, when a certificate and key are given) and the operations listener
// (ops_bind_address:ops_port, when ops_port is set), where /metrics and /readyz details need no token.
struct ServerSettings {
  std::string bind_address = "127.0.0.1";  // plain HTTP: loopback unless opened on purpose
  std::uint16_t port = 8080;               // 0: any free port (tests read it back with Server::Port())
  std::string https_bind_address = "0.0.0.0";
  std::uint16_t https_port = 8443;
  std::string ops_bind_address = "127.0.0.1";
  std::uint16_t ops_port = 0;                    // 0: no operations listener
  std::size_t max_connections_per_client = 256;  // per client IP (trusted proxies exempt); 0 = off
  int threads = 2;
  std::size_t max_connections = 10000;
  std::size_t header_limit = 8 * 1024;
  std::size_t body_limit = 1024 * 1024;
  // Bulk device imports (POST .../devices:import, up to 10,000 rows) have their own, larger limit.
  std::size_t import_body_limit = 4 * 1024 * 1024;
  // Firmware uploads (POST .../firmwares) stream their body to the handler (http/body_stream.hpp) up
  // to this many bytes (IOT_FIRMWARE_MAX_BYTES).
  std::size_t streamed_body_limit = 256 * 1024 * 1024;
  // A connection with no complete request for this long (while nothing is in flight) is closed.
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds write_timeout{30000};
  std::size_t pipeline_limit = 16;  // requests read ahead of their responses per connection
  std::chrono::milliseconds shutdown_grace{10000};
  std::string tls_cert_file;  // both set: the HTTPS listener runs
  std::string tls_key_file;
  // Peers whose X-Forwarded-For names the client (reverse proxies), by IP address.
  std::vector<std::string> trusted_proxies;
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

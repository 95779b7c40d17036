#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

// The small HTTP pieces the services share, on Boost.Beast (the API's own server is services/api/src/
// transport). No Beast header leaves this library: users see these declarations only.
namespace iot::http {

// What a handler answers.
struct Reply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
};

// Everything a client can make the server hold is bounded.
struct ServerLimits {
  std::size_t max_header_bytes = 8 * 1024;        // request line and headers; more: 431
  std::size_t max_body_bytes = 1024;              // GET endpoints take no body; more: 413
  std::chrono::milliseconds read_timeout{1000};   // to receive the whole request, from accept
  std::chrono::milliseconds write_timeout{5000};  // to send the answer
  std::size_t max_connections = 32;               // open at once; more are closed at accept
};

// A minimal HTTP/1.1 (and 1.0) server for a few GET endpoints (operations: /metrics, /healthz, /readyz),
// on one thread of its own. One request per connection (answered with Connection: close, in the request's
// HTTP version); the query string is ignored. GET and HEAD on a registered path run its handler; another
// method there gets 405, another path 404, a malformed request 400. Handlers run on the server's thread, one
// at a time: they must be quick and must not block (they read counters and render text).
class Server {
 public:
  using Handler = std::function<Reply()>;

  explicit Server(ServerLimits limits = {});
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers `path` ("/metrics"). Before Start only.
  void Get(std::string path, Handler handler);
  // Binds `bind` (an IPv4 or IPv6 address) and `port` (0: a free one) and starts serving. False, with the
  // reason in `error`, when the address is malformed or cannot be bound.
  bool Start(const std::string& bind, int port, std::string& error);
  // Closes the listener and every connection and joins the thread. Idempotent.
  void Stop();
  // The bound port (after Start).
  int Port() const;

  struct Impl;  // defined in server.cpp (public so that its connection type can name it)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace iot::http

// Private to the transport (Beast/Asio types): what the listener and the sessions share.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "http/dispatcher.hpp"
#include "http/metrics.hpp"
#include "http/request.hpp"
#include "transport/server.hpp"

namespace iot::api::stream {
class Service;
}

namespace iot::api::transport {

namespace net = boost::asio;

// A connection as the server sees it: only so shutdown can reach every live session.
class Session {
 public:
  virtual ~Session() = default;
  // Thread-safe: finish the responses already owed, then close; close at once when idle.
  virtual void Shutdown() = 0;
};

// Shared by the listener and every session; sessions keep it alive with a shared_ptr.
struct ServerState {
  ServerState(ServerSettings s, RequestHandler& h, MetricsRegistry& m)
      : settings(std::move(s)), handler(h), metrics(m) {}

  const ServerSettings settings;
  RequestHandler& handler;
  MetricsRegistry& metrics;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::uint64_t> next_request_id{1};
  std::string request_id_prefix;      // random per process, so ids from restarts do not collide
  stream::Service* stream = nullptr;  // GET /api/v1/stream upgrades; null: routed like any request

  std::mutex mutex;  // guards sessions
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;

  // One connection of `address` (an IP) for as long as the lease lives; null when the address already
  // holds max_connections_per_client (trusted proxies are not limited).
  std::shared_ptr<void> LeaseAddress(const std::string& address) {
    const std::size_t limit = settings.max_connections_per_client;
    const auto& proxies = settings.trusted_proxies;
    if (limit == 0 || IsTrustedProxy(address, proxies)) {
      return std::make_shared<int>(0);
    }
    std::lock_guard lock(address_mutex);
    std::size_t& count = per_address[address];
    if (count >= limit) {
      return nullptr;
    }
    ++count;
    // Points at the state (never null, never deleted): only the release matters.
    return std::shared_ptr<void>(static_cast<void*>(this), [this, address](void*) {
      std::lock_guard release(address_mutex);
      if (auto it = per_address.find(address); it != per_address.end() && --it->second == 0) {
        per_address.erase(it);
      }
    });
  }

  std::mutex address_mutex;  // guards per_address
  std::unordered_map<std::string, std::size_t> per_address;
};

// What a session knows about its connection beyond the socket.
struct SessionOptions {
  std::shared_ptr<void> lease;  // ServerState::LeaseAddress; released when the connection ends
  bool operations = false;      // accepted on the operations listener
};

// Starts a session on an accepted socket whose executor is a fresh strand. The session counts
// itself in state->connections until it is destroyed.
void StartPlainSession(net::ip::tcp::socket&& socket, std::shared_ptr<ServerState> state,
                       SessionOptions options);
void StartTlsSession(net::ip::tcp::socket&& socket, net::ssl::context& tls,
                     std::shared_ptr<ServerState> state, SessionOptions options);

}  // namespace iot::api::transport

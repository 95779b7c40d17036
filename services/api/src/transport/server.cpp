// The listener (accepts, enforces the connection limit, hands each socket a fresh strand), TLS
// setup, and graceful shutdown on SIGTERM/SIGINT.
#include "transport/server.hpp"

#include <csignal>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/system_error.hpp>

#include "iot/common/log.hpp"
#include "transport/session.hpp"

namespace iot::api {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using transport::ServerState;

namespace {

constexpr std::string_view kLog = "api.server";
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr auto kDrainPollInterval = std::chrono::milliseconds(20);

std::string RandomPrefix() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += kHex[rd() % 16];
  }
  return out + "-";
}

}  // namespace

struct Server::Impl {
  // One listening socket and what its connections are.
  struct Listener {
    Listener(net::strand<net::io_context::executor_type>& control, std::string name, std::string bind,
             std::uint16_t port, bool tls, bool operations)
        : acceptor(control),
          retry_timer(control),
          name(std::move(name)),
          bind(std::move(bind)),
          port(port),
          tls(tls),
          operations(operations) {}
    tcp::acceptor acceptor;
    net::steady_timer retry_timer;
    std::string name;
    std::string bind;
    std::uint16_t port;
    bool tls;
    bool operations;
  };

  Impl(ServerSettings s, RequestHandler& handler, MetricsRegistry& metrics)
      : settings(s),
        ioc(std::max(1, s.threads)),
        control(net::make_strand(ioc)),
        signals(control),
        drain_timer(control),
        state(std::make_shared<ServerState>(std::move(s), handler, metrics)) {
    state->request_id_prefix = RandomPrefix();
  }

  void DoAccept(Listener& l) {
    l.acceptor.async_accept(
        net::make_strand(ioc),
        [this, &l](boost::system::error_code ec, tcp::socket socket) { OnAccept(l, ec, std::move(socket)); });
  }

  void OnAccept(Listener& l, boost::system::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !l.acceptor.is_open()) {
      return;
    }
    if (ec) {
      // E.g. EMFILE: back off instead of spinning on the error.
      IOT_LOG_WARN(kLog, "msg=\"accept failed\" error=" << log::Quote(ec.message()));
      l.retry_timer.expires_after(kAcceptRetryDelay);
      l.retry_timer.async_wait([this, &l](boost::system::error_code wait_ec) {
        if (!wait_ec && l.acceptor.is_open()) {
          DoAccept(l);
        }
      });
      return;
    }
    boost::system::error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    transport::SessionOptions options{.operations = l.operations};
    // The operations listener (loopback or an internal network) is not limited, so monitoring still
    // works while the public listeners are full.
    if (!peer_ec && !l.operations) {
      options.lease = state->LeaseAddress(peer.address().to_string());
    }
    if (!l.operations && (state->connections.load() >= settings.max_connections || !options.lease)) {
      state->metrics.RefusedConnections().fetch_add(1);
      if (!options.lease && !peer_ec) {
        IOT_LOG_DEBUG(kLog,
                      "msg=\"connection refused: per-client limit\" client=" << peer.address().to_string());
      }
      boost::system::error_code ignored;
      socket.close(ignored);  // refuse: the client sees the connection closed at once
    } else {
      state->connections.fetch_add(1);
      state->metrics.Connections().fetch_add(1);
      try {
        if (l.tls) {
          transport::StartTlsSession(std::move(socket), *tls, state, std::move(options));
        } else {
          transport::StartPlainSession(std::move(socket), state, std::move(options));
        }
      } catch (const std::exception& e) {  // e.g. bad_alloc: drop this connection, keep serving
        IOT_LOG_ERROR(kLog, "msg=\"session start failed\" what=" << log::Quote(e.what()));
      }
    }
    DoAccept(l);
  }

  void Listen(Listener& l) {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(l.bind, ec);
    if (ec) {
      throw std::runtime_error("bad bind address " + l.bind);
    }
    const tcp::endpoint endpoint(address, l.port);
    auto check = [&](const char* what) {
      if (!ec) {
        return;
      }
      throw std::runtime_error(std::string("cannot ") + what + " " + l.bind + ":" + std::to_string(l.port) +
                               " (" + l.name + "): " + ec.message());
    };
    l.acceptor.open(endpoint.protocol(), ec);
    check("open");
    l.acceptor.set_option(net::socket_base::reuse_address(true), ec);
    check("configure");
    l.acceptor.bind(endpoint, ec);
    check("bind");
    l.acceptor.listen(net::socket_base::max_listen_connections, ec);
    check("listen");
    l.port = l.acceptor.local_endpoint().port();
  }

  void BeginShutdown() {
    if (shutting_down) {
      return;
    }
    shutting_down = true;
    IOT_LOG_INFO(kLog, "msg=\"shutting down\" connections=" << state->connections.load());
    boost::system::error_code ignored;
    signals.cancel(ignored);
    for (auto& l : listeners) {
      l->acceptor.close(ignored);
      l->retry_timer.cancel();
    }
    std::vector<std::shared_ptr<transport::Session>> sessions;
    {
      std::lock_guard lock(state->mutex);
      for (auto& [ptr, weak] : state->sessions) {
        if (auto session = weak.lock()) {
          sessions.push_back(std::move(session));
        }
      }
    }
    for (auto& session : sessions) {
      session->Shutdown();
    }
    drain_deadline = std::chrono::steady_clock::now() + settings.shutdown_grace;
    PollDrained();
  }

  void PollDrained() {
    if (state->connections.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      if (state->connections.load() != 0) {
        IOT_LOG_WARN(kLog, "msg=\"shutdown deadline passed\" connections=" << state->connections.load());
      }
      ioc.stop();
      return;
    }
    drain_timer.expires_after(kDrainPollInterval);
    drain_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        PollDrained();
      }
    });
  }

  const ServerSettings settings;
  net::io_context ioc;
  net::strand<net::io_context::executor_type> control;  // acceptors, signals, shutdown
  std::optional<net::ssl::context> tls;
  std::vector<std::unique_ptr<Listener>> listeners;  // plain HTTP first
  net::signal_set signals;
  net::steady_timer drain_timer;
  std::shared_ptr<ServerState> state;
  bool shutting_down = false;
  std::chrono::steady_clock::time_point drain_deadline;
};

Server::Server(ServerSettings settings, RequestHandler& handler, MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(std::move(settings), handler, metrics)) {}

Server::~Server() = default;

void Server::SetStream(stream::Service& service) { impl_->state->stream = &service; }

void Server::Start() {
  Impl& s = *impl_;
  const ServerSettings& cfg = s.settings;
  s.listeners.push_back(
      std::make_unique<Impl::Listener>(s.control, "http", cfg.bind_address, cfg.port, false, false));
  if (!cfg.tls_cert_file.empty()) {
    try {
      s.tls.emplace(net::ssl::context::tls_server);
      s.tls->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                         net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                         net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
      s.tls->use_certificate_chain_file(cfg.tls_cert_file);
      s.tls->use_private_key_file(cfg.tls_key_file, net::ssl::context::pem);
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error("cannot load TLS certificate/key: " + std::string(e.what()));
    }
    s.listeners.push_back(std::make_unique<Impl::Listener>(s.control, "https", cfg.https_bind_address,
                                                           cfg.https_port, true, false));
  }
  if (cfg.ops_port != 0) {
    s.listeners.push_back(std::make_unique<Impl::Listener>(s.control, "operations", cfg.ops_bind_address,
                                                           cfg.ops_port, false, true));
  }
  for (auto& l : s.listeners) {
    s.Listen(*l);
  }

  s.signals.add(SIGINT);
  s.signals.add(SIGTERM);
  s.signals.async_wait([&s](boost::system::error_code wait_ec, int) {
    if (!wait_ec) {
      s.BeginShutdown();
    }
  });
  for (auto& l : s.listeners) {
    net::post(s.control, [&s, &listener = *l] { s.DoAccept(listener); });
    IOT_LOG_INFO(kLog, "msg=\"listening\" listener=" << l->name << " address=" << l->bind
                                                     << " port=" << l->port << " threads=" << cfg.threads);
  }
}

void Server::Run() {
  Impl& s = *impl_;
  std::vector<std::thread> threads;
  for (int i = 1; i < s.settings.threads; ++i) {
    threads.emplace_back([&s] { s.ioc.run(); });
  }
  s.ioc.run();
  for (auto& t : threads) {
    t.join();
  }
  IOT_LOG_INFO(kLog, "msg=\"stopped\"");
}

void Server::Shutdown() {
  net::post(impl_->control, [impl = impl_.get()] { impl->BeginShutdown(); });
}

std::uint16_t Server::Port() const { return impl_->listeners.empty() ? 0 : impl_->listeners.front()->port; }

}  // namespace iot::api

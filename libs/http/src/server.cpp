#include "iot/http/server.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace iot::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

}  // namespace

namespace detail {
class Session;
}  // namespace detail
using detail::Session;

struct Server::Impl {
  explicit Impl(ServerLimits l) : limits(l) {}

  ServerLimits limits;
  std::map<std::string, Handler, std::less<>> routes;
  std::set<Session*> sessions;  // open connections; touched on the server's thread only
  bool stopping = false;
  int port = 0;
  net::io_context ioc{1};  // after what sessions use: destroying it destroys the sessions still open
  tcp::acceptor acceptor{ioc};
  std::thread thread;

  void Accept();
  Reply Answer(const bhttp::request<bhttp::string_body>& request, bool& head) const;
};

namespace detail {

// One connection: read one request (bounded in size and time), answer it, close.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server) : stream_(std::move(socket)), server_(server) {
    server_.sessions.insert(this);
  }
  ~Session() { server_.sessions.erase(this); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    parser_.header_limit(static_cast<std::uint32_t>(server_.limits.max_header_bytes));
    parser_.body_limit(server_.limits.max_body_bytes);
    stream_.expires_after(server_.limits.read_timeout);
    bhttp::async_read(stream_, buffer_, parser_,
                      [self = shared_from_this()](error_code ec, std::size_t) { self->OnRead(ec); });
  }

  void OnRead(error_code ec) {
    if (ec == bhttp::error::header_limit) {
      return Send(11, {431, "text/plain", "request header too large\n"}, false);
    }
    if (ec == bhttp::error::body_limit) {
      return Send(11, {413, "text/plain", "request body too large\n"}, false);
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      return Send(11, {400, "text/plain", "bad request\n"}, false);
    }
    if (ec) {  // timeout, closed early, reset, stopping: nobody to answer
      return stream_.close();
    }
    const auto& request = parser_.get();
    bool head = false;
    Reply reply = server_.Answer(request, head);
    Send(request.version(), std::move(reply), head);
  }

  void Send(unsigned version, Reply reply, bool head) {
    response_.version(version == 10 ? 10 : 11);
    response_.result(static_cast<unsigned>(reply.status));
    response_.set(bhttp::field::content_type, reply.content_type);
    response_.set(bhttp::field::connection, "close");
    if (reply.status == 405) {
      response_.set(bhttp::field::allow, "GET, HEAD");
    }
    response_.body() = std::move(reply.body);
    response_.prepare_payload();
    if (head) {
      response_.body().clear();  // Content-Length stays the GET's
    }
    stream_.expires_after(server_.limits.write_timeout);
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this()](error_code, std::size_t) { self->Close(); });
  }

  // Stopping: the pending operation ends with operation_aborted and the session goes.
  void Cancel() { stream_.close(); }

 private:
  // Our side is done; what the client still sends (the rest of a refused request) is read and dropped, up
  // to 64 KiB and the read timeout, so that closing does not reset the connection before the client has
  // read the answer.
  void Close() {
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (server_.stopping) {
      return stream_.close();
    }
    stream_.expires_after(server_.limits.read_timeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](error_code ec, std::size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > 64 * 1024 || self->server_.stopping) {
        return self->stream_.close();
      }
      self->Drain();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bhttp::request_parser<bhttp::string_body> parser_;  // GET endpoints: the body (bounded) is not used
  bhttp::response<bhttp::string_body> response_;
  std::array<char, 4096> drain_{};
  std::size_t drained_ = 0;
  Server::Impl& server_;
};

}  // namespace detail

Reply Server::Impl::Answer(const bhttp::request<bhttp::string_body>& request, bool& head) const {
  std::string_view target = request.target();
  target = target.substr(0, target.find('?'));
  auto route = routes.find(target);
  if (route == routes.end()) {
    return {404, "text/plain", "not found\n"};
  }
  head = request.method() == bhttp::verb::head;
  if (request.method() != bhttp::verb::get && !head) {
    return {405, "text/plain", "method not allowed\n"};
  }
  try {
    return route->second();
  } catch (const std::exception& e) {
    return {500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
  }
}

void Server::Impl::Accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) {
      return;  // stopping
    }
    if (!ec) {
      if (sessions.size() < limits.max_connections) {
        std::make_shared<Session>(std::move(socket), *this)->Start();
      } else {
        error_code ignored;
        socket.close(ignored);  // at the limit: the client retries (Prometheus scrapes again)
      }
    }
    Accept();
  });
}

Server::Server(ServerLimits limits) : impl_(std::make_unique<Impl>(limits)) {}

Server::~Server() { Stop(); }

void Server::Get(std::string path, Handler handler) { impl_->routes[std::move(path)] = std::move(handler); }

bool Server::Start(const std::string& bind, int port, std::string& error) {
  error_code ec;
  const net::ip::address address = net::ip::make_address(bind, ec);
  if (ec) {
    error = "not an IP address: " + bind;
    return false;
  }
  if (port < 0 || port > 65535) {
    error = "port outside 0..65535: " + std::to_string(port);
    return false;
  }
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  tcp::acceptor& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) {
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  }
  if (!ec) {
    acceptor.bind(endpoint, ec);
  }
  if (!ec) {
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    error = ec.message();
    acceptor.close(ec);
    return false;
  }
  impl_->port = acceptor.local_endpoint(ec).port();
  impl_->Accept();
  impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
  return true;
}

void Server::Stop() {
  if (!impl_->thread.joinable()) {
    return;
  }
  // On the server's thread: no new connections, the open ones closed; run() returns when their handlers
  // (called with operation_aborted) are done.
  net::post(impl_->ioc, [impl = impl_.get()] {
    impl->stopping = true;
    error_code ignored;
    impl->acceptor.close(ignored);
    for (Session* session : impl->sessions) {
      session->Cancel();
    }
  });
  impl_->thread.join();
}

int Server::Port() const { return impl_->port; }

}  // namespace iot::http

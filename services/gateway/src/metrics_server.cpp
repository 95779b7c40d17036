#include "metrics_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "iot/common/log.hpp"

namespace iot::gateway {
namespace {

void WriteAll(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

std::string Response(int status, std::string_view reason, std::string_view type, const std::string& body) {
  std::string r = "HTTP/1.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  r += "Content-Type: " + std::string(type) + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  r += body;
  return r;
}

}  // namespace

MetricsServer::MetricsServer(std::string bind, int port, Render render, Healthy healthy, Healthy ready)
    : bind_(std::move(bind)),
      port_(port),
      render_(std::move(render)),
      healthy_(std::move(healthy)),
      ready_(std::move(ready)) {}

MetricsServer::~MetricsServer() { Stop(); }

bool MetricsServer::Start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    return false;
  }
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  if (::inet_pton(AF_INET, bind_.c_str(), &addr.sin_addr) != 1 ||
      ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0) {
    IOT_LOG_ERROR("gateway", "metrics port unavailable bind=" << bind_ << " port=" << port_ << " error="
                                                              << log::Quote(std::strerror(errno)));
    ::close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
  IOT_LOG_INFO("gateway", "metrics listening bind=" << bind_ << " port=" << port_);
  return true;
}

void MetricsServer::Stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
  }
  listen_fd_ = -1;
}

void MetricsServer::Loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 200);
    if (n <= 0) {
      continue;
    }
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    Serve(fd);
    ::close(fd);
  }
}

void MetricsServer::Serve(int fd) {
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string head;
  char buf[2048];
  while (head.size() < 8192 && head.find("\r\n\r\n") == std::string::npos &&
         head.find("\n\n") == std::string::npos) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      break;
    }
    head.append(buf, static_cast<std::size_t>(n));
  }
  if (head.starts_with("GET /metrics")) {
    WriteAll(fd, Response(200, "OK", "text/plain; version=0.0.4", render_()));
  } else if (head.starts_with("GET /healthz") || head.starts_with("GET /readyz")) {
    const Healthy& probe = head.starts_with("GET /readyz") ? ready_ : healthy_;
    const bool ok = !probe || probe();
    WriteAll(fd, Response(ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain",
                          ok ? "ok\n" : "unavailable\n"));
  } else {
    WriteAll(fd, Response(404, "Not Found", "text/plain", "not found\n"));
  }
}

}  // namespace iot::gateway

#include "iot/testing/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

namespace iot::testing {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

// Runs `ioc` until the started operation completes or the deadline passes (then closes the socket
// so the operation finishes with an error, and throws).
void RunUntilDone(net::io_context& ioc, tcp::socket& socket, std::chrono::milliseconds timeout,
                  const char* what) {
  ioc.restart();
  ioc.run_for(timeout);
  if (!ioc.stopped()) {
    error_code ignored;
    socket.close(ignored);
    ioc.restart();
    ioc.run();
    throw std::runtime_error(std::string("timeout while ") + what);
  }
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Parses status line + headers (up to and including the blank line).
HttpResponse ParseHead(const std::string& head) {
  HttpResponse response;
  std::size_t pos = head.find("\r\n");
  const std::string status_line = head.substr(0, pos);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
    throw std::runtime_error("bad status line: " + status_line);
  }
  response.status = std::stoi(status_line.substr(9, 3));
  while (pos != std::string::npos) {
    const std::size_t start = pos + 2;
    pos = head.find("\r\n", start);
    const std::string line = head.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    const auto colon = line.find(':');
    if (line.empty() || colon == std::string::npos) {
      continue;
    }
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    response.headers[Lower(line.substr(0, colon))] = value;
  }
  return response;
}

// Reads one response from `socket`; `buffer` keeps bytes that arrived beyond it.
HttpResponse ReadOne(net::io_context& ioc, tcp::socket& socket, std::string& buffer,
                     std::chrono::milliseconds timeout) {
  error_code ec;
  std::size_t head_size = 0;
  net::async_read_until(socket, net::dynamic_buffer(buffer), "\r\n\r\n", [&](error_code e, std::size_t n) {
    ec = e;
    head_size = n;
  });
  RunUntilDone(ioc, socket, timeout, "reading response head");
  if (ec) {
    throw std::runtime_error("reading response head: " + ec.message());
  }
  HttpResponse response = ParseHead(buffer.substr(0, head_size));
  buffer.erase(0, head_size);
  const std::string length = response.Header("content-length");
  if (!length.empty()) {
    const std::size_t want = std::stoul(length);
    if (buffer.size() < want) {
      net::async_read(socket, net::dynamic_buffer(buffer), net::transfer_exactly(want - buffer.size()),
                      [&](error_code e, std::size_t) { ec = e; });
      RunUntilDone(ioc, socket, timeout, "reading response body");
      if (ec) {
        throw std::runtime_error("reading response body: " + ec.message());
      }
    }
    response.body = buffer.substr(0, want);
    buffer.erase(0, want);
  }
  return response;
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

// ---------------------------------------------------------------------------------------------------

struct HttpClient::Impl {
  Impl(int p, std::chrono::milliseconds t) : port(p), timeout(t), socket(ioc) {}

  void Connect() {
    error_code ignored;
    socket.close(ignored);
    buffer.clear();
    error_code ec;
    socket.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
                         [&](error_code e) { ec = e; });
    RunUntilDone(ioc, socket, timeout, "connecting");
    if (ec) {
      throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
    }
  }

  int port;
  std::chrono::milliseconds timeout;
  net::io_context ioc;
  tcp::socket socket;
  std::string buffer;
  bool server_closed = true;
};

HttpClient::HttpClient(int port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(port, timeout)) {}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Request(const std::string& method, const std::string& target,
                                 const HttpHeaders& headers, const std::string& body) {
  Impl& s = *impl_;
  if (s.server_closed) {
    s.Connect();
    s.server_closed = false;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) {
    request += name + ": " + value + "\r\n";
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  error_code ec;
  net::async_write(s.socket, net::buffer(request), [&](error_code e, std::size_t) { ec = e; });
  RunUntilDone(s.ioc, s.socket, s.timeout, "writing request");
  if (ec) {
    s.server_closed = true;
    throw std::runtime_error("writing request: " + ec.message());
  }
  try {
    HttpResponse response = ReadOne(s.ioc, s.socket, s.buffer, s.timeout);
    if (Lower(response.Header("connection")) == "close") {
      s.server_closed = true;
    }
    return response;
  } catch (...) {
    s.server_closed = true;
    throw;
  }
}

HttpResponse HttpRequest(int port, const std::string& method, const std::string& target,
                         const HttpHeaders& headers, const std::string& body) {
  HttpClient client(port);
  return client.Request(method, target, headers, body);
}

// ---------------------------------------------------------------------------------------------------

struct RawConnection::Impl {
  net::io_context ioc;
  tcp::socket socket{ioc};
  std::string buffer;    // unread bytes for ReadResponse
  std::string received;  // everything WaitForClose saw
};

RawConnection::RawConnection(int port) : impl_(std::make_unique<Impl>()) {
  error_code ec;
  impl_->socket.async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
      [&](error_code e) { ec = e; });
  RunUntilDone(impl_->ioc, impl_->socket, std::chrono::seconds(10), "connecting");
  if (ec) {
    throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
  }
}

RawConnection::~RawConnection() = default;

bool RawConnection::Send(const std::string& bytes) {
  error_code ec;
  net::async_write(impl_->socket, net::buffer(bytes), [&](error_code e, std::size_t) { ec = e; });
  RunUntilDone(impl_->ioc, impl_->socket, std::chrono::seconds(10), "sending");
  return !ec;
}

HttpResponse RawConnection::ReadResponse(std::chrono::milliseconds timeout) {
  return ReadOne(impl_->ioc, impl_->socket, impl_->buffer, timeout);
}

bool RawConnection::WaitForClose(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[4096];
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    error_code ec;
    std::size_t n = 0;
    s.socket.async_read_some(net::buffer(chunk), [&](error_code e, std::size_t got) {
      ec = e;
      n = got;
    });
    s.ioc.restart();
    s.ioc.run_for(left);
    if (!s.ioc.stopped()) {
      s.socket.cancel();
      s.ioc.restart();
      s.ioc.run();
      return false;
    }
    s.received.append(chunk, n);
    if (ec) {
      return true;  // EOF or reset: the server closed it
    }
  }
}

const std::string& RawConnection::Received() const { return impl_->received; }

}  // namespace iot::testing

#include "http.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <istream>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace iot::devsim {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;

}  // namespace

HttpUrl ParseHttpUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    throw std::invalid_argument("API URL must start with http:// (got " + url + ")");
  }
  std::string rest = url.substr(kScheme.size());
  HttpUrl out;
  const auto slash = rest.find('/');
  if (slash != std::string::npos) {
    out.base_path = rest.substr(slash);
    rest.resize(slash);
    while (!out.base_path.empty() && out.base_path.back() == '/') {
      out.base_path.pop_back();
    }
  }
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos) {
    out.port = rest.substr(colon + 1);
    rest.resize(colon);
    if (out.port.empty() || !std::all_of(out.port.begin(), out.port.end(), ::isdigit)) {
      throw std::invalid_argument("bad port in API URL " + url);
    }
  }
  if (rest.empty()) {
    throw std::invalid_argument("no host in API URL " + url);
  }
  out.host = rest;
  return out;
}

HttpResult HttpCall(const HttpUrl& url, const std::string& method, const std::string& target,
                    const std::string& token, const std::string& body, std::chrono::milliseconds timeout) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  tcp::resolver resolver(ioc);
  std::string request = method + " " + url.base_path + target + " HTTP/1.1\r\nHost: " + url.host +
                        "\r\nConnection: close\r\nAccept: application/json\r\n";
  if (!token.empty()) {
    request += "Authorization: Bearer " + token + "\r\n";
  }
  if (!body.empty()) {
    request += "Content-Type: application/json\r\n";
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;

  net::streambuf buffer;
  error_code failure;
  // Connection: close, so the response ends at EOF. Lives here: the handlers refer to it.
  std::function<void(error_code, std::size_t)> read_more = [&](error_code ec, std::size_t) {
    if (ec == net::error::eof) {
      return;
    }
    if (ec) {
      return void(failure = ec);
    }
    if (buffer.size() > kMaxResponseBytes) {
      return void(failure = net::error::message_size);
    }
    net::async_read(socket, buffer, net::transfer_at_least(1), read_more);
  };
  std::string stage = "resolving " + url.host;
  // One chain of async steps so that a single run_for() bounds the whole exchange.
  resolver.async_resolve(url.host, url.port, [&](error_code ec, tcp::resolver::results_type r) {
    if (ec) {
      return void(failure = ec);
    }
    stage = "connecting to " + url.host + ":" + url.port;
    net::async_connect(socket, r, [&](error_code ec2, const tcp::endpoint&) {
      if (ec2) {
        return void(failure = ec2);
      }
      stage = "sending the request";
      net::async_write(socket, net::buffer(request), [&](error_code ec3, std::size_t) {
        if (ec3) {
          return void(failure = ec3);
        }
        stage = "reading the response";
        read_more({}, 0);
      });
    });
  });
  ioc.run_for(timeout);
  if (!ioc.stopped()) {
    error_code ignored;
    socket.close(ignored);
    throw std::runtime_error("HTTP " + method + " " + target + ": timeout while " + stage);
  }
  if (failure) {
    throw std::runtime_error("HTTP " + method + " " + target + ": " + stage + ": " + failure.message());
  }
  std::string text(net::buffers_begin(buffer.data()), net::buffers_end(buffer.data()));
  const auto header_end = text.find("\r\n\r\n");
  if (text.rfind("HTTP/1.", 0) != 0 || header_end == std::string::npos || text.size() < 12) {
    throw std::runtime_error("HTTP " + method + " " + target + ": malformed response");
  }
  HttpResult result;
  result.status = std::atoi(text.substr(9, 3).c_str());
  std::string headers = text.substr(0, header_end);
  std::transform(headers.begin(), headers.end(), headers.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (headers.find("transfer-encoding: chunked") != std::string::npos) {
    throw std::runtime_error("HTTP " + method + " " + target + ": chunked responses are not supported");
  }
  result.body = text.substr(header_end + 4);
  return result;
}

}  // namespace iot::devsim

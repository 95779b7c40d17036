#include "iot/http/client.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>

namespace iot::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

// One call's state; the async steps below run on its io_context, bounded by one deadline.
struct Call {
  net::io_context ioc{1};
  tcp::resolver resolver{ioc};
  std::string stage;
  error_code failure;
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> request;
  bhttp::response_parser<bhttp::string_body> parser;
};

template <class Stream>
void SendAndReceive(Call& call, Stream& stream) {
  call.stage = "sending the request";
  bhttp::async_write(stream, call.request, [&call, &stream](error_code ec, std::size_t) {
    if (ec) {
      call.failure = ec;
      return;
    }
    call.stage = "reading the response";
    bhttp::async_read(stream, call.buffer, call.parser,
                      [&call](error_code ec2, std::size_t) { call.failure = ec2; });
  });
}

}  // namespace

Url ParseUrl(const std::string& url) {
  Url out;
  std::string rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
    out.port = "80";
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.tls = true;
    out.port = "443";
  } else {
    throw std::invalid_argument("URL must start with http:// or https:// (got " + url + ")");
  }
  const auto slash = rest.find('/');
  if (slash != std::string::npos) {
    out.base_path = rest.substr(slash);
    rest.resize(slash);
    while (!out.base_path.empty() && out.base_path.back() == '/') {
      out.base_path.pop_back();
    }
  }
  std::string::size_type host_end = rest.size();
  if (rest.starts_with("[")) {  // an IPv6 literal
    host_end = rest.find(']');
    if (host_end == std::string::npos) {
      throw std::invalid_argument("unclosed [ in URL " + url);
    }
    out.host = rest.substr(1, host_end - 1);
    ++host_end;
  } else {
    host_end = std::min(rest.find(':'), rest.size());
    out.host = rest.substr(0, host_end);
  }
  if (host_end < rest.size()) {
    if (rest[host_end] != ':') {
      throw std::invalid_argument("bad host in URL " + url);
    }
    out.port = rest.substr(host_end + 1);
    if (out.port.empty() || out.port.size() > 5 ||
        !std::all_of(out.port.begin(), out.port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        std::stoi(out.port) > 65535) {
      throw std::invalid_argument("bad port in URL " + url);
    }
  }
  if (out.host.empty() || out.host.find_first_of("@?# ") != std::string::npos) {
    throw std::invalid_argument("bad host in URL " + url);
  }
  return out;
}

Response Request(const Url& url, const std::string& method, const std::string& target, const Headers& headers,
                 const std::string& body, const ClientOptions& options) {
  const std::string what = "HTTP " + method + " " + target;
  Call call;
  auto& request = call.request;
  const bhttp::verb verb = bhttp::string_to_verb(method);
  if (verb == bhttp::verb::unknown) {
    throw std::invalid_argument(what + ": unknown method");
  }
  request.method(verb);
  request.target(url.base_path + target);
  request.version(11);
  const bool default_port = url.port == (url.tls ? "443" : "80");
  const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  request.set(bhttp::field::host, default_port ? host : host + ":" + url.port);
  request.set(bhttp::field::connection, "close");
  request.set(bhttp::field::accept, "application/json");
  for (const auto& [name, value] : headers) {
    request.set(name, value);
  }
  if (!body.empty() && request.find(bhttp::field::content_type) == request.end()) {
    request.set(bhttp::field::content_type, "application/json");
  }
  request.body() = body;
  request.prepare_payload();
  call.parser.header_limit(
      static_cast<std::uint32_t>(std::min<std::size_t>(options.max_header_bytes, UINT32_MAX)));
  call.parser.body_limit(options.max_body_bytes);
  call.parser.skip(verb == bhttp::verb::head);  // a HEAD answer's Content-Length announces no body

  std::optional<ssl::context> tls_context;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  std::optional<beast::tcp_stream> plain;
  if (url.tls) {
    tls_context.emplace(ssl::context::tls_client);
    error_code ec;
    tls_context->set_verify_mode(ssl::verify_peer, ec);
    if (!options.ca_file.empty()) {
      tls_context->load_verify_file(options.ca_file, ec);
      if (ec) {
        throw std::runtime_error(what + ": cannot use the CA file " + options.ca_file + ": " + ec.message());
      }
    } else {
      tls_context->set_default_verify_paths(ec);
    }
    tls.emplace(call.ioc, *tls_context);
    // The certificate must name the host (subjectAltName DNS or IP); SNI for names, never for addresses.
    tls->set_verify_callback(ssl::host_name_verification(url.host));
    error_code not_ip;
    net::ip::make_address(url.host, not_ip);
    if (not_ip && SSL_set_tlsext_host_name(tls->native_handle(), url.host.c_str()) != 1) {
      throw std::runtime_error(what + ": cannot set the TLS server name " + url.host);
    }
  } else {
    plain.emplace(call.ioc);
  }
  beast::tcp_stream& lowest = tls ? beast::get_lowest_layer(*tls) : *plain;
  lowest.expires_after(options.timeout);  // connect, handshake, write and read; run_for() below bounds it all

  call.stage = "resolving " + url.host;
  call.resolver.async_resolve(url.host, url.port,
                              [&](error_code ec, const tcp::resolver::results_type& found) {
                                if (ec) {
                                  call.failure = ec;
                                  return;
                                }
                                call.stage = "connecting to " + url.host + ":" + url.port;
                                lowest.async_connect(found, [&](error_code ec2, const tcp::endpoint&) {
                                  if (ec2) {
                                    call.failure = ec2;
                                    return;
                                  }
                                  if (!tls) {
                                    return SendAndReceive(call, *plain);
                                  }
                                  call.stage = "TLS handshake with " + url.host;
                                  tls->async_handshake(ssl::stream_base::client, [&](error_code ec3) {
                                    if (ec3) {
                                      call.failure = ec3;
                                      return;
                                    }
                                    SendAndReceive(call, *tls);
                                  });
                                });
                              });
  call.ioc.run_for(options.timeout);
  if (!call.ioc.stopped() || call.failure == beast::error::timeout) {
    throw std::runtime_error(what + ": timeout while " + call.stage);
  }
  if (call.failure) {
    std::string reason = call.failure.message();
    if (tls && SSL_get_verify_result(tls->native_handle()) != X509_V_OK) {
      reason += std::string(" (certificate: ") +
                X509_verify_cert_error_string(SSL_get_verify_result(tls->native_handle())) + ")";
    }
    throw std::runtime_error(what + ": " + call.stage + ": " + reason);
  }
  Response response;
  response.status = static_cast<int>(call.parser.get().result_int());
  response.body = std::move(call.parser.get().body());
  return response;
}

}  // namespace iot::http

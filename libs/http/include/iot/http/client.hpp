#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

// A blocking HTTP(S) client on Boost.Beast for the tools (iot-devsim): one request per connection, every
// call bounded in time and size. HTTPS verifies the server's certificate (chain and host name) against the
// system's CAs or a given CA file.
namespace iot::http {

struct Url {
  bool tls = false;       // https://
  std::string host;       // a name, an IPv4 address or an IPv6 address (written [::1] in the URL)
  std::string port;       // "80" or "443" unless the URL names one
  std::string base_path;  // without the trailing '/'
};

// "http://host[:port][/base]" or "https://...". Throws std::invalid_argument naming the problem.
Url ParseUrl(const std::string& url);

struct ClientOptions {
  std::string ca_file;                       // https: trust this CA (PEM) instead of the system's
  std::chrono::milliseconds timeout{30000};  // the whole call: resolve, connect, handshake, send, receive
  std::size_t max_header_bytes = 64 * 1024;  // of the response
  std::size_t max_body_bytes = 64 * 1024 * 1024;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;
  std::string body;
};

// `method` url.base_path + `target` with `headers` (and Content-Type/Length for a non-empty body).
// Any status is a Response; a failure to resolve, connect, verify the certificate, send or receive, a
// timeout, or a response over the limits throws std::runtime_error naming the stage it failed in.
Response Request(const Url& url, const std::string& method, const std::string& target, const Headers& headers,
                 const std::string& body, const ClientOptions& options = {});

}  // namespace iot::http

#pragma once

// A minimal blocking HTTP/1.1 client for the REST API (plain http://, one request per connection,
// Content-Length bodies), enough for registering devices and fetching the thing model. Every call
// has a deadline.

#include <chrono>
#include <string>

namespace iot::devsim {

struct HttpUrl {
  std::string host;
  std::string port = "80";
  std::string base_path;  // without the trailing '/'
};

// "http://host[:port][/base]". Throws std::invalid_argument for anything else (https included).
HttpUrl ParseHttpUrl(const std::string& url);

struct HttpResult {
  int status = 0;
  std::string body;
};

// Throws std::runtime_error on connection failure, timeout or a malformed response.
HttpResult HttpCall(const HttpUrl& url, const std::string& method, const std::string& target,
                    const std::string& token, const std::string& body = "",
                    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace iot::devsim

#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace iot::testing {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string Header(const std::string& lower_name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// A small blocking HTTP/1.1 client over one keep-alive TCP connection to 127.0.0.1 (Asio only, no
// Beast: tests stay cheap to compile). Every call has a deadline; on timeout it throws.
class HttpClient final {
 public:
  explicit HttpClient(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a request (Content-Length set from `body`, Host added) and reads the response. Reconnects
  // if the server closed the previous connection. Throws std::runtime_error on I/O failure.
  HttpResponse Request(const std::string& method, const std::string& target, const HttpHeaders& headers = {},
                       const std::string& body = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection.
HttpResponse HttpRequest(int port, const std::string& method, const std::string& target,
                         const HttpHeaders& headers = {}, const std::string& body = "");

// A raw TCP connection for misbehaving-client tests: send arbitrary bytes, read what comes back,
// see whether the server closed the connection.
class RawConnection final {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // False when the connection could not be written (e.g. closed by the server).
  bool Send(const std::string& bytes);
  // Reads one HTTP response (status line, headers, Content-Length body); throws on timeout/EOF.
  HttpResponse ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads until the server closes the connection; true if it did within `timeout`. Data received
  // on the way is appended to Received().
  bool WaitForClose(std::chrono::milliseconds timeout);
  const std::string& Received() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iot::testing

#pragma once

#include <chrono>
#include <string>

#include "http/metrics.hpp"
#include "http/request.hpp"
#include "http/router.hpp"

namespace iot::api {

// What the transport calls for every complete request. Implemented by Dispatcher; tests may fake it.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  virtual void Handle(Request&& request, Respond respond) = 0;
};

// Parses the target, routes, and wraps the response with the access log line and request metrics.
// Never lets an exception escape (they become problem responses).
class Dispatcher final : public RequestHandler {
 public:
  Dispatcher(const Router& router, MetricsRegistry& metrics) : router_(router), metrics_(metrics) {}
  void Handle(Request&& request, Respond respond) override;

 private:
  const Router& router_;
  MetricsRegistry& metrics_;
};

// What the access log line records about a request (no headers: they may carry tokens).
struct AccessRecord {
  std::string method;
  std::string route;   // matched pattern, or "unmatched"
  std::string target;  // RedactedTarget(): `token` query values never reach the log
  std::string request_id;
  std::string remote_address;
};

// One line per request: method, route, target, status, ms, request id, remote address.
void LogAccess(const AccessRecord& record, int status, std::chrono::steady_clock::duration elapsed);

}  // namespace iot::api

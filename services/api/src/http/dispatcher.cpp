#include "http/dispatcher.hpp"

#include <memory>

#include "http/problem.hpp"
#include "iot/common/log.hpp"

namespace iot::api {
namespace {

// Metric labels must stay few: any other method a client invents is counted as OTHER.
std::string MethodLabel(const std::string& method) {
  for (const char* known : {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}) {
    if (method == known) {
      return method;
    }
  }
  return "OTHER";
}

}  // namespace

void LogAccess(const AccessRecord& record, int status, std::chrono::steady_clock::duration elapsed) {
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  const auto level = status >= 500 ? log::Level::kWarn : log::Level::kInfo;
  IOT_LOG(level, "api.access",
          "msg=\"request\" method=" << record.method << " route=" << log::Quote(record.route)
                                    << " target=" << log::Quote(record.target) << " status=" << status
                                    << " ms=" << static_cast<long long>(ms * 1000) / 1000.0 << " request_id="
                                    << record.request_id << " remote=" << record.remote_address);
}

void Dispatcher::Handle(Request&& request, Respond respond) {
  const auto started = std::chrono::steady_clock::now();
  auto record =
      std::make_shared<AccessRecord>(AccessRecord{request.method, "unmatched", RedactedTarget(request.target),
                                                  request.request_id, request.remote_address});
  const auto parse_error = ParseTarget(request);
  if (!parse_error) {
    if (auto match = router_.Match(request.method, request.segments)) {
      record->route = match->pattern;
    }
  }
  metrics_.InFlight().fetch_add(1);
  Respond observed = respond.Then([this, record, started](const Response& response) {
    const auto elapsed = std::chrono::steady_clock::now() - started;
    metrics_.InFlight().fetch_sub(1);
    metrics_.ObserveRequest(record->route, MethodLabel(record->method), response.status,
                            std::chrono::duration<double>(elapsed).count());
    LogAccess(*record, response.status, elapsed);
  });
  if (parse_error) {
    observed(ToResponse(ApiError::BadRequest(*parse_error)));
    return;
  }
  try {
    router_.Dispatch(std::move(request), observed);
  } catch (const std::exception& e) {
    // Only the authenticator can throw here (handlers are guarded by the router).
    IOT_LOG_ERROR("api.dispatch", "msg=\"dispatch failed\" what=" << log::Quote(e.what()));
    observed(ToResponse(ApiError::Internal("internal error")));
  }
}

}  // namespace iot::api

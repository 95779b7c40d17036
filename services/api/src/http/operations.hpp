#pragma once

#include <memory>
#include <string>
#include <vector>

#include "http/metrics.hpp"
#include "http/router.hpp"

namespace iot::api {

// One dependency /readyz asks about (PostgreSQL, the broker). Ready() must not block: report the state
// the component last observed (e.g. the DB pool's last ping), not a fresh round trip.
class ReadinessProbe {
 public:
  virtual ~ReadinessProbe() = default;
  virtual std::string Name() const = 0;
  // True when usable; otherwise `detail` says why (shown in the 503 body).
  virtual bool Ready(std::string& detail) const = 0;
};

// The probes that /readyz reports on. Add them before the server starts.
class Readiness final {
 public:
  void Add(std::shared_ptr<const ReadinessProbe> probe) { probes_.push_back(std::move(probe)); }
  const std::vector<std::shared_ptr<const ReadinessProbe>>& Probes() const { return probes_; }

 private:
  std::vector<std::shared_ptr<const ReadinessProbe>> probes_;
};

// GET /healthz, GET /readyz, GET /metrics (no token) and GET /api/v1/openapi.json (no token: the
// contract is public). `openapi_json` is the document's text, read once at startup.
void AddOperationsRoutes(Router& router, const Readiness& readiness, const MetricsRegistry& metrics,
                         std::string openapi_json);

}  // namespace iot::api

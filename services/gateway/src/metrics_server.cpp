#include "metrics_server.hpp"

#include "iot/common/log.hpp"

namespace iot::gateway {
namespace {

http::Server::Handler Probe(const MetricsServer::Healthy& probe) {
  return [&probe] {
    const bool ok = !probe || probe();
    return http::Reply{ok ? 200 : 503, "text/plain", ok ? "ok\n" : "unavailable\n"};
  };
}

}  // namespace

MetricsServer::MetricsServer(std::string bind, int port, Render render, Healthy healthy, Healthy ready)
    : bind_(std::move(bind)),
      port_(port),
      render_(std::move(render)),
      healthy_(std::move(healthy)),
      ready_(std::move(ready)) {
  server_.Get("/metrics", [this] { return http::Reply{200, "text/plain; version=0.0.4", render_()}; });
  server_.Get("/healthz", Probe(healthy_));
  server_.Get("/readyz", Probe(ready_));
}

MetricsServer::~MetricsServer() { Stop(); }

bool MetricsServer::Start() {
  std::string error;
  if (!server_.Start(bind_, port_, error)) {
    IOT_LOG_ERROR("gateway", "metrics port unavailable bind=" << bind_ << " port=" << port_
                                                              << " error=" << log::Quote(error));
    return false;
  }
  port_ = server_.Port();
  IOT_LOG_INFO("gateway", "metrics listening bind=" << bind_ << " port=" << port_);
  return true;
}

void MetricsServer::Stop() { server_.Stop(); }

}  // namespace iot::gateway

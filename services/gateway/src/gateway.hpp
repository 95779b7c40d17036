#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "alarms.hpp"
#include "config.hpp"
#include "directory.hpp"
#include "forwarder.hpp"
#include "forwarding.hpp"
#include "metrics.hpp"
#include "metrics_server.hpp"
#include "mqtt_ingress.hpp"
#include "pipeline.hpp"
#include "store_backend.hpp"

namespace iot::gateway {

// The object graph of iot-gateway: caches and their LISTEN/NOTIFY invalidation thread, the pipeline
// (shard workers + batch writer), the MQTT client and the metrics responder.
class Gateway {
 public:
  explicit Gateway(const Config& config);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // False when the metrics port cannot be bound.
  bool Start();
  // Stops consuming, drains what is held (answering after commits), stops the threads. With
  // end_session_on_stop it unsubscribes first and ends its broker session last.
  void Stop();

 private:
  void ListenLoop();

  Config config_;
  Metrics metrics_;
  StoreDirectorySource source_;
  CachingDirectory directory_;
  ForwardRules forward_rules_;  // read by the handlers, reloaded by ListenLoop
  AlarmRules alarm_rules_;      // likewise; ListenLoop also sweeps "for N s" alarm conditions
  store::Db rules_db_;          // ListenLoop's connection for reloading them
  std::vector<std::unique_ptr<StoreBackend>> backends_;
  MqttIngress ingress_;
  Pipeline pipeline_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<Forwarder> forwarder_;  // IOT_GATEWAY_FORWARD=1
  std::atomic<bool> stopping_{false};
  std::atomic<bool> database_ok_{false};  // the LISTEN connection is up (readiness)
  std::thread listener_;
};

}  // namespace iot::gateway

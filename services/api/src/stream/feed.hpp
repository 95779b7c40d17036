#pragma once

// The live stream's data source: one thread LISTENs (libs/store Listener, one dedicated connection)
// on the stream channel (telemetry and service calls, see iot/store/stream.hpp) and on device status,
// holding the presence lock that makes the gateway send telemetry notifications at all, and hands
// each change to the hub, which builds its message only when a client wants it. Device ids are
// resolved to keys through a cache (ids are never reused) filled on this thread from PostgreSQL.
// Also the store-backed subscription check (product/device exist) on the DB pool.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "iot/store/db.hpp"
#include "iot/store/listener.hpp"
#include "iot/store/pool.hpp"
#include "iot/store/stream.hpp"
#include "stream/hub.hpp"
#include "stream/service.hpp"

namespace iot::api {

class StreamFeed final {
 public:
  StreamFeed(store::DbSettings db, stream::Hub& hub);
  ~StreamFeed();  // Stop()
  StreamFeed(const StreamFeed&) = delete;
  StreamFeed& operator=(const StreamFeed&) = delete;

  void Start();
  void Stop();
  bool Connected() const { return connected_.load(); }
  // Runs `then` on the feed thread once the presence lock has been held kStreamPresenceSettle, so
  // writers NOTIFY what they commit afterwards (or after a few seconds when the database is away).
  void WhenStreaming(std::function<void()> then);
  std::uint64_t Notifications() const { return notifications_.load(); }

 private:
  void Run();
  void OnNotification(const store::Notification& n);
  void RunGated(std::optional<std::chrono::steady_clock::time_point> presence_since);
  const store::DeviceKeys* Resolve(std::int64_t device_id);

  store::DbSettings db_settings_;
  stream::Hub& hub_;
  store::Db db_;  // device-key lookups, on the feed thread only
  std::unordered_map<std::int64_t, store::DeviceKeys> keys_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> notifications_{0};
  std::mutex gate_mutex_;
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> gated_;
  std::thread thread_;
};

class StoreSubscriptionChecker final : public stream::SubscriptionChecker {
 public:
  explicit StoreSubscriptionChecker(store::DbPool& pool) : pool_(pool) {}
  void Check(std::string product_key, std::string device_name, Done done) override;

 private:
  store::DbPool& pool_;
};

class MetricsRegistry;

// Everything the stream needs, built by the App: hub, subscription check, service, feed, gauges.
class StreamRuntime final {
 public:
  StreamRuntime(store::DbPool& pool, Authenticator& authenticator, store::DbSettings listen_db,
                stream::Settings settings, MetricsRegistry& metrics);
  stream::Service& Service() { return service_; }
  void Start() { feed_.Start(); }
  void Stop() { feed_.Stop(); }

 private:
  stream::Hub hub_;
  StoreSubscriptionChecker checker_;
  stream::Service service_;
  StreamFeed feed_;
};

}  // namespace iot::api

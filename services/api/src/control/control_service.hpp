#pragma once

// Device control: property sets and service calls (sync over RRPC, async with an offline queue).
//
// Every command is a service_calls row, and every state change is committed before it is acted on:
// a command is stored `queued`, claimed as `sent` and only then published, so a restart never loses
// one (at worst a claimed command whose publish did not happen times out). Delivery to a device is
// serialised per device (request order) and paced by the downlink rate.
//
// Threads: handler work runs on DB pool threads (Enqueue, CallSync, Deliver); RRPC responses arrive
// on Paho's thread and go to the pool; one timer thread ends sync calls that get no answer; one
// sweeper thread (its own connection) LISTENs for device status and model changes, delivers queues
// of devices that came online, expires queued calls and times out unanswered ones.

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/mqtt_link.hpp"
#include "control/outcome.hpp"
#include "control/rrpc_waiters.hpp"
#include "iot/catalog/published_products.hpp"
#include "iot/common/rate_limiter.hpp"
#include "iot/script/script.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/pool.hpp"
#include "iot/tsl/thing_model.hpp"
#include "iot/tsl/validator.hpp"

namespace iot::api {

struct ControlSettings {
  int downlink_rate = 50;  // commands per second per device (0 = unlimited)
  int queue_limit = 1000;  // queued commands per device
  std::chrono::milliseconds online_grace{500};
  std::chrono::milliseconds sweep_interval{1000};
  store::DbSettings db;          // the sweeper's own connection and its LISTEN connection
  script::Limits script_limits;  // raw products: protocolToRawData per command
};

// A product's newest published model and mode: libs/catalog owns it and its cache (the gateway uses the
// same).
using ProductModel = catalog::PublishedProduct;

// A validated command as the handlers hand it over.
struct Command {
  std::string identifier;  // "set" for a property set, else the service identifier
  store::CallType call_type = store::CallType::kAsync;
  nlohmann::json params = nlohmann::json::object();
  std::int64_t ttl_ms = 24LL * 3600 * 1000;  // async and set: time to live while queued or unanswered
  std::int64_t timeout_ms = 5000;            // sync: how long the HTTP call waits
  // sync: sent on /ext/rrpc/{messageId}/sys/{pk}/{dn}/thing/service/{id} (the C SDK's RRPC_NEW form,
  // answered on the same topic) instead of /sys/{pk}/{dn}/rrpc/request/{messageId}.
  bool ext_rrpc = false;
  std::string requested_by;
  std::optional<store::AuditRecord> audit;  // committed with the command's record
};

class ControlService final {
 public:
  ControlService(store::DbPool& pool, Downlink& downlink, ControlSettings settings);
  ~ControlService();  // Stop()
  ControlService(const ControlService&) = delete;
  ControlService& operator=(const ControlService&) = delete;

  void Start();
  // Ends the threads; sync calls still waiting end with kShuttingDown (their rows time out later).
  void Stop();

  // The product's published model (cached until a publish or product change is notified).
  std::shared_ptr<const ProductModel> Model(store::Db& db, const std::string& product_key);
  // The cache behind Model, kept current by this service's LISTEN connection (device data reads use it).
  catalog::PublishedProducts& Products() { return models_; }

  // Checks `params` against the model: property set (rw properties) or a service's inputData,
  // always strictly. Every problem, none when the command is valid.
  static std::vector<ParamProblem> ValidateParams(const ProductModel& model, const Command& command);

  // One more command for this device now? (token bucket; the caller refuses the command when false)
  bool AllowCommand(std::int64_t device_id);

  // Async service or property set: stores it queued (ControlError kQueueFull when the device's queue
  // is full) and delivers the device's queue at once when the device is online. Returns the row as it
  // stands.
  store::ServiceCall Enqueue(store::Db& db, const store::Device& device, const Command& command);

  // Sync service over RRPC: stores the call as sent, publishes it and calls `done` once, later, with
  // the call's record (succeeded or failed: the device answered) or a ControlError (kDeviceTimeout,
  // kBrokerDown, kShuttingDown, ...). The device must be online. Throws ControlError (kRawSync, store
  // errors) when nothing was started.
  void CallSync(store::Db& db, const store::Device& device, std::shared_ptr<const ProductModel> model,
                const Command& command, SyncDone done);

  // Publishes the device's queued commands in order (expiring and rejecting as it goes).
  void Deliver(store::Db& db, std::int64_t device_id, const std::string& product_key,
               const std::string& device_name);

  // An MQTT message for the API (Paho's thread): RRPC responses, and the answers to the /ext/rrpc form
  // (as the broker re-routes them: /iot/rrpc/reply/{pk}/{dn}/{messageId}/sys/...).
  void OnMessage(const std::string& topic, const std::string& payload);

  // More work for the sweeper, run on its connection on every sweep and when a device came online
  // (after the grace): other downlink queues (custom-topic messages). Call before Start.
  void AddSweeper(std::function<void(store::Db&)> sweep) { sweepers_.push_back(std::move(sweep)); }

 private:
  struct Waiter {
    SyncDone done;
    std::string call_id;
    std::int64_t device_id = 0;
    std::string product_key;
    std::string device_name;
    std::string identifier;
    std::shared_ptr<const ProductModel> model;
    std::chrono::steady_clock::time_point deadline;
    std::int64_t timeout_ms = 0;
  };

  void CompleteRrpc(store::Db& db, const std::string& product_key, const std::string& device_name,
                    const std::string& rrpc_id, const std::string& payload, std::optional<Waiter> waiter);
  void TimeOut(const std::string& rrpc_id);
  void AnswerSync(const Waiter& waiter, const store::ServiceCall& call);
  std::optional<std::pair<int, std::string>> Recheck(const ProductModel* model,
                                                     const store::ServiceCall& call) const;
  void RejectInvalidQueued(store::Db& db, const std::string& product_key);
  void SweepLoop();
  void Sweep(store::Db& db);
  std::mutex& DeviceLock(std::int64_t device_id) { return device_locks_[device_id % device_locks_.size()]; }

  store::DbPool& pool_;
  Downlink& downlink_;
  ControlSettings settings_;

  catalog::PublishedProducts models_;

  // Raw products: protocolToRawData compiled once per product script (serialised: one Duktape heap).
  struct RawEncoder {
    std::shared_ptr<const std::string> source;  // the script it was compiled from
    std::mutex mutex;
    std::unique_ptr<script::Script> compiled;
  };
  script::Outcome<std::string> ToRaw(const ProductModel& model, const nlohmann::json& message);
  std::mutex encoders_mutex_;
  std::unordered_map<std::string, std::shared_ptr<RawEncoder>> encoders_;  // by product key

  std::mutex limiter_mutex_;
  DeviceRateLimiter request_limiter_;
  DeviceRateLimiter delivery_limiter_;

  std::array<std::mutex, 64> device_locks_;

  RrpcWaiters<Waiter> waiters_;  // by rrpc id

  std::mutex sweep_mutex_;
  std::condition_variable sweep_cv_;
  std::vector<std::chrono::steady_clock::time_point> deliveries_due_;  // after online + grace

  std::vector<std::function<void(store::Db&)>> sweepers_;  // fixed after Start

  bool sweep_stopping_ = false;  // guarded by sweep_mutex_ (sweeper thread)
  std::thread timer_thread_;
  std::thread sweep_thread_;
};

}  // namespace iot::api

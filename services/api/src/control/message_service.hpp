#pragma once

// Custom topics (reference §2.2, §7.5): operators' messages to a device's /{pk}/{dn}/user/... topics,
// product-wide broadcasts on /broadcast/{pk}/..., and custom RRPC (/ext/rrpc/{messageId}/<topic>,
// answered by the device on the same topic, which the broker re-routes to /iot/rrpc/reply/...).
//
// Every downlink to a device is a device_messages row, stored before it is published. A QoS 1 message
// to an offline device waits there ("queued", with a time to live) and is published by the control
// service's sweeper (ControlService::AddSweeper) once the device has been online for the grace period;
// QoS 0 needs the device online (kDeviceOffline otherwise), like custom RRPC.
//
// Several iot-api instances: every instance receives every RRPC answer (its plain subscription to
// /iot/rrpc/reply/#, as for the sync services' rrpc/response); the one holding the waiter answers the
// HTTP call, the others ignore ids they do not know.

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
#include <variant>

#include "control/mqtt_link.hpp"
#include "control/outcome.hpp"
#include "control/rrpc_waiters.hpp"
#include "iot/common/rate_limiter.hpp"
#include "iot/store/device_messages.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/pool.hpp"

namespace iot::api {

struct MessageSettings {
  int queue_limit = 1000;            // queued messages per device
  double broadcasts_per_second = 1;  // per product (Alibaba: one broadcast per second)
  std::chrono::milliseconds online_grace{500};
};

// A message to one device's custom topic, as the handler checked it.
struct OutMessage {
  std::string topic;  // full MQTT topic
  std::string payload;
  int qos = 0;
  std::int64_t ttl_ms = 0;  // QoS 1: how long it may wait for an offline device
  std::string requested_by;
};

// How a custom RRPC ended: the message record ("answered", the reply in it), or the error
// (kDeviceTimeout with the record, kBrokerDown, kShuttingDown, ...).
struct RrpcOutcome {
  std::optional<store::DeviceMessage> message;
  std::optional<ControlError> error;
};
using RrpcDone = std::function<void(RrpcOutcome)>;

class MessageService final {
 public:
  MessageService(store::DbPool& pool, Downlink& downlink, MessageSettings settings);
  ~MessageService();  // Stop()
  MessageService(const MessageService&) = delete;
  MessageService& operator=(const MessageService&) = delete;

  void Start();
  void Stop();

  // Publishes now when the device is online (settled), queues a QoS 1 message otherwise (kQueueFull
  // when the device's queue is full), refuses a QoS 0 one to an offline device (kDeviceOffline).
  // Returns the record as it stands.
  store::DeviceMessage Send(store::Db& db, const store::Device& device, const OutMessage& message);

  // A broadcast to every device of the product subscribed to `topic` (full topic). kBroadcastRate
  // over the product's rate, kBrokerDown when it could not be handed to the broker.
  void Broadcast(const std::string& product_key, const std::string& topic, const std::string& payload,
                 int qos);

  // Custom RRPC to an online device: `inner_topic` is the device's full custom topic. Calls `done` once,
  // later. Throws ControlError when nothing was started (kDeviceOffline, store errors).
  void Rrpc(store::Db& db, const store::Device& device, const std::string& inner_topic,
            const std::string& payload, std::int64_t timeout_ms, const std::string& requested_by,
            RrpcDone done);

  // Publishes the device's queued messages in order (expiring as it goes).
  void Deliver(store::Db& db, std::int64_t device_id);
  // The sweeper's part: expires queued messages, delivers the queues of online devices.
  void Sweep(store::Db& db);

  // An MQTT message (Paho's thread): a custom RRPC answer on /iot/rrpc/reply/... (others ignored).
  void OnMessage(const std::string& topic, const std::string& payload);

 private:
  struct Waiter {
    RrpcDone done;
    std::int64_t message_id = 0;  // the row
    std::string product_key;
    std::string device_name;
    std::chrono::steady_clock::time_point deadline;
    std::int64_t timeout_ms = 0;
  };

  void Finish(std::shared_ptr<Waiter> waiter, std::optional<std::string> reply);

  store::DbPool& pool_;
  Downlink& downlink_;
  MessageSettings settings_;

  std::mutex limiter_mutex_;
  DeviceRateLimiter broadcast_limiter_;

  std::mutex deliver_mutex_;  // one delivery at a time (the sweeper and a handler may meet)

  RrpcWaiters<Waiter> waiters_;  // by RRPC message id
  std::thread timer_thread_;
};

}  // namespace iot::api

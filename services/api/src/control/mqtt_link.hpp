#pragma once

// iot-api's own broker session (its service account): publishes downlink commands, custom-topic
// messages and broadcasts, and receives the RRPC responses of synchronous calls (both forms) and the
// answers to custom RRPC. Paho runs the network on its own threads; Publish never waits
// for the network and never blocks for long, so DB pool threads may call it.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "iot/common/log.hpp"

namespace mqtt {
class async_client;
}

namespace iot::api {

// What the control service needs from the broker; MqttLink is the real one.
class Downlink {
 public:
  virtual ~Downlink() = default;
  // Hands the message to the client. False when not connected or the client refused it: the caller
  // keeps the command queued (or fails it) instead of assuming it went out.
  virtual bool Publish(const std::string& topic, const std::string& payload, int qos) = 0;
  virtual bool Connected() const = 0;
};

struct MqttLinkSettings {
  std::string uri;  // tcp://host:port
  std::string client_id;
  std::string username;
  std::string password;
  int keepalive_s = 30;
};

class MqttLink final : public Downlink {
 public:
  // Called on Paho's thread for every message received (RRPC responses): must not block.
  using MessageHandler = std::function<void(const std::string& topic, const std::string& payload)>;

  MqttLink(MqttLinkSettings settings, MessageHandler on_message);
  ~MqttLink() override;  // Stop()
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;

  // Connects in the background and keeps reconnecting (backoff 0.1 s .. 5 s); subscribes to the
  // RRPC responses after every connect.
  void Start();
  void Stop();

  bool Publish(const std::string& topic, const std::string& payload, int qos) override;
  bool Connected() const override { return connected_.load(std::memory_order_acquire); }

 private:
  void Subscribe();

  MqttLinkSettings settings_;
  MessageHandler on_message_;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopped_{false};
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
  std::thread supervisor_;
  log::RateLimiter noise_{std::chrono::seconds(10)};
};

}  // namespace iot::api

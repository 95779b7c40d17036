#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "flow_control.hpp"
#include "iot/mqtt/client.hpp"
#include "metrics.hpp"
#include "pipeline.hpp"

namespace iot::gateway {

struct MqttSettings {
  // The broker's plain MQTT listener, credentials, client id, keepalive, Session Expiry Interval (a day
  // unless set, as IOT_GATEWAY_SESSION_EXPIRY_S); the ingress makes the session persistent (clean_start
  // off) and holds up to 200,000 replies while paused.
  mqtt::ClientOptions client{.session_expiry_s = 86400};
  std::string share_group;           // "" = plain subscriptions
  bool end_session_on_stop = false;  // Stop() disconnects with Session Expiry 0
  int reply_qos = 0;
  std::size_t high_water = 20000;
  std::size_t low_water = 5000;
};

// Uplink topic filters only: none of them matches a topic the gateway publishes (shared
// subscriptions cannot use MQTT 5 No Local). thing/service/+ also matches downlinks published by
// the API: the handler ignores what devices did not publish.
std::vector<std::string> UplinkFilters();

// True when a platform service published the message (the user property alink::kPlatformOrigin).
bool IsPlatformPublish(const mqtt::PublishView& msg);
// True when the message came only through the custom-topic filter (its subscription identifier).
bool OnlyThroughCustomTopicFilter(const mqtt::PublishView& msg);

// The MQTT 5 session of the gateway (libs/mqtt_client): persistent (clean_start=false, Session Expiry
// Interval > 0), QoS 1 (shared) subscriptions. The message handler only copies the message into the
// pipeline (never blocks); a supervisor thread connects, reconnects with backoff and pauses consumption
// (disconnects, leaving the broker to hold the session) above the high-water mark, resuming below
// the low-water mark. Publishes the replies (Publisher).
class MqttIngress final : public Publisher {
 public:
  MqttIngress(MqttSettings settings, Metrics& metrics);
  ~MqttIngress() override;
  MqttIngress(const MqttIngress&) = delete;
  MqttIngress& operator=(const MqttIngress&) = delete;

  // The pipeline must outlive Stop().
  void Start(Pipeline& pipeline);
  // Ends reconnects and pauses but stays connected, so replies of the messages still held can go
  // out while the pipeline drains. Stop() then disconnects (the broker keeps queueing for the session,
  // unless end_session_on_stop: then it ends the session).
  void StopSupervisor();
  // Unsubscribes from every uplink filter (after StopSupervisor), so the broker deals no more shared
  // messages to this session while the pipeline drains what it holds.
  void Unsubscribe();
  void Stop();
  bool Publish(const std::string& topic, const std::string& payload) override;
  bool Connected() const { return connected_.load(); }

 private:
  void SupervisorLoop();
  bool ConnectAndSubscribe();
  void SubscribeBrokerStats();  // /iot/broker/stats and $SYS/broker/# for the metrics
  std::string FullFilter(const std::string& filter) const;  // with $share/<group>/ when shared
  void Wake();

  MqttSettings settings_;
  Metrics& metrics_;
  Pipeline* pipeline_ = nullptr;
  std::unique_ptr<mqtt::Client> client_;
  std::string broker_;  // host:port, for the log
  FlowControl flow_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool wake_flag_ = false;
  std::thread supervisor_;
};

}  // namespace iot::gateway

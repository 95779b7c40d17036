#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace mqtt {
class async_client;
}

namespace iot::testing {

struct ReceivedMessage {
  std::string topic;
  std::string payload;
  int qos = 0;
};

struct DeviceConnect {
  std::string uri;  // tcp://127.0.0.1:port
  std::string product_key;
  std::string device_name;
  std::string device_secret;
  std::string sign_method = "hmacsha256";  // hmacmd5 | hmacsha1 | hmacsha256
  std::string timestamp = "2524608000000";
  int keepalive_s = 60;
  bool clean_session = true;
  int mqtt_version = 4;  // 4 = 3.1.1 (what the Alibaba SDKs speak), 5 = MQTT 5
  std::string ca_file;   // for ssl:// URIs: the CA to trust
  // Raw overrides for hostile or SDK-specific CONNECTs (used as given when set).
  std::optional<std::string> client_id, username, password;
};

// A real MQTT client (Paho C++) acting as a device or as any other client in integration tests.
// Received messages are queued; tests wait for them with a deadline.
class MqttTestClient final {
 public:
  MqttTestClient();
  ~MqttTestClient();
  MqttTestClient(const MqttTestClient&) = delete;
  MqttTestClient& operator=(const MqttTestClient&) = delete;

  // Signs like the Alibaba C SDK (alink::MakeConnectParams) unless overrides are given. Returns the
  // MQTT return/reason code: 0 on success, 5 (3.1.1) or 135 (5) when not authorized, -1 on I/O error.
  int ConnectDevice(const DeviceConnect& options);
  // Plain username/password connect (service accounts, anonymous).
  int Connect(const std::string& uri, const std::string& client_id, const std::string& username,
              const std::string& password, int mqtt_version = 4, bool clean_session = true);
  void Disconnect();
  bool IsConnected() const;

  // Returns the granted QoS (0..2), or 128 (or a v5 reason code >= 128) when refused.
  int Subscribe(const std::string& filter, int qos = 1);
  // Waits for the acknowledgement at QoS 1/2. False when the publish failed.
  bool Publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false);

  // The next message whose topic equals `topic` (or any topic when empty); earlier non-matching
  // messages stay queued.
  std::optional<ReceivedMessage> WaitMessage(const std::string& topic = "",
                                             std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::optional<ReceivedMessage> WaitMessageWhere(
      const std::function<bool(const ReceivedMessage&)>& match,
      std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when the broker closed the connection (kicked) within `timeout`.
  bool WaitDisconnected(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  std::size_t Pending();

  std::string LastClientId() const { return client_id_; }

 private:
  int DoConnect(const std::string& uri, const std::string& client_id, const std::string& username,
                const std::string& password, int mqtt_version, bool clean_session, int keepalive_s,
                const std::string& ca_file = "");

  std::unique_ptr<mqtt::async_client> client_;
  std::string client_id_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<ReceivedMessage> messages_;
  bool lost_ = false;
  int mqtt_version_ = 4;
};

}  // namespace iot::testing

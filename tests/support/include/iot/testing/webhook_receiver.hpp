#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace iot::testing {

// A webhook endpoint for the forwarding tests: a real HTTP/1.1 server on a free loopback port, one request
// per connection. Checks each request's X-Iot-Signature against its own secret (counted, not refused);
// answers what `answer` says for each batch (200 without one) and records the messages of the batches it
// answered 2xx.
class WebhookReceiver {
 public:
  struct Message {
    std::string message_id;
    std::string topic;
    std::string device_name;
    nlohmann::json payload;
  };
  using Answer = std::function<int(const nlohmann::json& batch)>;

  explicit WebhookReceiver(std::string secret = "");
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  void Start();
  // Closes the port: deliveries fail (connection refused) until Start.
  void Stop();

  void SetAnswer(Answer answer);
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<Message> Received() const;
  int BadSignatures() const { return bad_signatures_.load(); }
  int GoodSignatures() const { return good_signatures_.load(); }
  int Requests() const { return requests_.load(); }

 private:
  void Loop();
  void Serve(int client);

  std::string secret_;
  int port_;
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  Answer answer_;
  std::vector<Message> received_;
  std::atomic<int> bad_signatures_{0};
  std::atomic<int> good_signatures_{0};
  std::atomic<int> requests_{0};
};

}  // namespace iot::testing

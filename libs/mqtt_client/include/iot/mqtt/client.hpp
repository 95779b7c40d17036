#pragma once

// A lean MQTT 5 client for the platform's services, on Boost.Asio: one connection, one I/O thread.
// Made for the gateway's hot path, where Paho C++ cost ~40 µs of CPU per post before any work
// (docs/BENCHMARKS.md): received packets are parsed in place and handed to the message handler as
// views; PUBACKs and replies are coalesced into one write per read or per burst.
//
// What it does not do: TLS, WebSocket, QoS 2, topic aliases, will messages, AUTH. The services reach
// the broker over its plain listener on the local network; the device SDK (libs/device) is Paho.
//
// Control calls (Connect, Subscribe, Unsubscribe, Disconnect) block the calling thread until the broker
// answers or the timeout passes; never call them from a handler. Publish never blocks.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "iot/mqtt/codec.hpp"

namespace iot::mqtt {

struct ClientOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id;
  std::string username;  // empty = none
  std::string password;  // empty = none
  int keepalive_s = 30;
  bool clean_start = true;
  std::uint32_t session_expiry_s = 0;
  // Publishes held while disconnected (and QoS 1 publishes beyond the broker's Receive Maximum);
  // Publish refuses more.
  std::size_t max_buffered = 200000;
  std::size_t max_packet = 268435460;  // the largest packet accepted from the broker (MQTT's limit)
};

struct ConnectResult {
  bool ok = false;
  bool session_present = false;
  int reason = -1;    // CONNACK's reason code; -1 when none came
  std::string error;  // why it failed, for the log
};

class Client {
 public:
  // On the I/O thread, for every PUBLISH while connected; views into the read buffer, valid only
  // during the call. Must not block: QoS 1 messages are acknowledged once it returns.
  using MessageHandler = std::function<void(const PublishView& message)>;
  // On the I/O thread when an established connection ends without Disconnect (broker gone, broker's
  // DISCONNECT, keepalive timeout, malformed packet).
  using LostHandler = std::function<void(const std::string& cause)>;

  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Before the first Connect.
  void SetMessageHandler(MessageHandler handler);
  void SetLostHandler(LostHandler handler);

  // TCP connect, CONNECT, CONNACK. On success publishes held meanwhile go out (unacknowledged QoS 1
  // publishes of the last connection first, marked DUP).
  ConnectResult Connect(std::chrono::milliseconds timeout);
  // One filter; MQTT 5 Subscription Identifier when `subscription_id` > 0. Returns the granted QoS or
  // the broker's failure reason (>= 0x80); -1 when not connected or no answer within `timeout`.
  int Subscribe(std::string_view filter, int qos, std::uint32_t subscription_id,
                std::chrono::milliseconds timeout);
  // Returns the UNSUBACK reason (0 = success); -1 as for Subscribe.
  int Unsubscribe(std::string_view filter, std::chrono::milliseconds timeout);
  // Writes the publishes still held, then DISCONNECT (with Session Expiry 0 when `end_session`), and
  // returns once the broker has closed the connection (so it has processed everything sent before) or
  // `timeout` passed. QoS 1 publishes not yet acknowledged are kept for the next connection.
  void Disconnect(bool end_session, std::chrono::milliseconds timeout);

  // From any thread. QoS 0 or 1. False when `max_buffered` publishes are already held. Publishes of
  // one QoS from one thread go out in order (MQTT orders per QoS: QoS 1 ones wait for the window).
  bool Publish(std::string_view topic, std::string_view payload, int qos);

  bool Connected() const;
  // QoS 1 publishes not yet acknowledged by the broker (held or in flight).
  std::size_t Unacknowledged() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iot::mqtt

#pragma once

// One MQTT 3.1.1 client connection on Asio, for a load generator that drives thousands of them from one
// thread per io_context. No strands, no shared_ptr: the owner keeps every Connection alive until its
// io_context has stopped, and all calls happen on that io_context's thread.
//
// Writes coalesce: packets appended while a write is in flight go out together in the next one.
// Reads fill one buffer that libs/mqtt's PacketReader cuts into packets in place.

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "mqtt_codec.hpp"

namespace iot::loadgen {

class Connection;

// Callbacks of a connection, all on its io_context's thread. OnClosed comes exactly once per Start.
class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  virtual void OnTcpConnected(Connection& /*conn*/) {}
  virtual void OnConnack(Connection& conn, int return_code) = 0;
  virtual void OnSuback(Connection& /*conn*/, std::uint16_t /*packet_id*/, int /*granted_qos*/) {}
  virtual void OnPuback(Connection& /*conn*/, std::uint16_t /*packet_id*/) {}
  virtual void OnPublish(Connection& /*conn*/, const PublishView& /*publish*/) {}
  // `clean`: we closed it ourselves (Disconnect or Abort); otherwise `ec` says why it ended.
  virtual void OnClosed(Connection& conn, bool clean, const boost::system::error_code& ec) = 0;
};

enum class ConnState : std::uint8_t { kIdle, kTcpConnecting, kAwaitConnack, kConnected, kClosing, kClosed };

class Connection final {
 public:
  Connection(boost::asio::io_context& io, ConnectionEvents& events, std::uint32_t index);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // TCP connect, then send `connect_packet` (an encoded CONNECT) and wait for CONNACK.
  void Start(const boost::asio::ip::tcp::endpoint& endpoint, std::string_view connect_packet);

  // Appends an encoded packet (or several) and writes it as soon as no other write is in flight.
  void Send(std::string_view bytes);
  // Encoders that write straight into the pending buffer (no temporary).
  std::string& PendingBuffer() { return out_pending_; }
  void Flush();

  std::uint16_t NextPacketId() {
    if (++packet_id_ == 0) {
      packet_id_ = 1;
    }
    return packet_id_;
  }

  // Sends DISCONNECT, then shuts the socket down once it has been written.
  void Disconnect();
  // Closes the socket now.
  void Abort();

  ConnState State() const { return state_; }
  std::uint32_t Index() const { return index_; }
  std::int64_t LastSendNs() const { return last_send_ns_; }

 private:
  void StartRead();
  void OnRead(const boost::system::error_code& ec, std::size_t n);
  bool Dispatch(const Packet& packet);
  void Fail(bool clean, const boost::system::error_code& ec);

  boost::asio::ip::tcp::socket socket_;
  ConnectionEvents& events_;
  std::uint32_t index_;
  ConnState state_ = ConnState::kIdle;
  bool writing_ = false;
  bool close_after_write_ = false;
  std::uint16_t packet_id_ = 0;
  std::int64_t last_send_ns_ = 0;
  std::string out_pending_;
  std::string out_writing_;
  mqtt::PacketReader reader_;
};

// Monotonic clock in nanoseconds (CLOCK_MONOTONIC), the generator's only time source.
std::int64_t NowNs();

}  // namespace iot::loadgen

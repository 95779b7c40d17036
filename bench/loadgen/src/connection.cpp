#include "connection.hpp"

#include <time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

namespace iot::loadgen {
namespace {

constexpr std::size_t kMinReadSpace = 1024;
constexpr std::size_t kInitialReadBuffer = 2048;
constexpr std::size_t kMaxPacket = 1 << 20;

}  // namespace

std::int64_t NowNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Connection::Connection(boost::asio::io_context& io, ConnectionEvents& events, std::uint32_t index)
    : socket_(io), events_(events), index_(index), reader_(kInitialReadBuffer, kMinReadSpace, kMaxPacket) {}

void Connection::Start(const boost::asio::ip::tcp::endpoint& endpoint, std::string_view connect_packet) {
  state_ = ConnState::kTcpConnecting;
  writing_ = false;
  close_after_write_ = false;
  out_pending_.assign(connect_packet);
  out_writing_.clear();
  reader_.Reset();
  socket_.async_connect(endpoint, [this](const boost::system::error_code& ec) {
    if (state_ != ConnState::kTcpConnecting) {
      return;  // aborted meanwhile
    }
    if (ec) {
      return Fail(false, ec);
    }
    boost::system::error_code ignored;
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    state_ = ConnState::kAwaitConnack;
    events_.OnTcpConnected(*this);
    Flush();
    StartRead();
  });
}

void Connection::Send(std::string_view bytes) {
  out_pending_.append(bytes);
  Flush();
}

void Connection::Flush() {
  if (writing_ || out_pending_.empty()) {
    return;
  }
  if (state_ != ConnState::kAwaitConnack && state_ != ConnState::kConnected &&
      state_ != ConnState::kClosing) {
    return;  // not connected yet (kept for after the TCP connect) or closed (dropped later)
  }
  out_writing_.swap(out_pending_);
  out_pending_.clear();
  writing_ = true;
  last_send_ns_ = NowNs();
  boost::asio::async_write(socket_, boost::asio::buffer(out_writing_),
                           [this](const boost::system::error_code& ec, std::size_t /*n*/) {
                             writing_ = false;
                             out_writing_.clear();
                             if (state_ == ConnState::kClosed) {
                               return;
                             }
                             if (ec) {
                               return Fail(false, ec);
                             }
                             if (!out_pending_.empty()) {
                               return Flush();
                             }
                             if (close_after_write_) {
                               boost::system::error_code ignored;
                               socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
                               Fail(true, {});
                             }
                           });
}

void Connection::Disconnect() {
  if (state_ == ConnState::kClosed || state_ == ConnState::kIdle) {
    return;
  }
  if (state_ != ConnState::kConnected) {
    return Abort();
  }
  state_ = ConnState::kClosing;
  close_after_write_ = true;
  mqtt::EncodeDisconnect(out_pending_, kVersion);
  Flush();
}

void Connection::Abort() {
  if (state_ == ConnState::kClosed || state_ == ConnState::kIdle) {
    return;
  }
  Fail(true, {});
}

void Connection::StartRead() {
  reader_.Prepare();
  socket_.async_read_some(boost::asio::buffer(reader_.Space(), reader_.SpaceSize()),
                          [this](const boost::system::error_code& ec, std::size_t n) { OnRead(ec, n); });
}

void Connection::OnRead(const boost::system::error_code& ec, std::size_t n) {
  if (state_ == ConnState::kClosed) {
    return;
  }
  if (ec) {
    return Fail(state_ == ConnState::kClosing, ec);
  }
  reader_.Commit(n);
  for (;;) {
    Packet packet;
    const auto status = reader_.Next(packet);
    if (status == ParseStatus::kMalformed) {
      return Fail(false, boost::asio::error::make_error_code(boost::asio::error::invalid_argument));
    }
    if (status == ParseStatus::kNeedMore) {
      break;
    }
    if (!Dispatch(packet)) {
      return;
    }
    if (state_ == ConnState::kClosed) {
      return;
    }
  }
  Flush();  // PUBACKs and whatever the owner queued while handling these packets, in one write
  StartRead();
}

bool Connection::Dispatch(const Packet& packet) {
  auto malformed = [this] {
    Fail(false, boost::asio::error::make_error_code(boost::asio::error::invalid_argument));
    return false;
  };
  switch (packet.Type()) {
    case PacketType::kConnack: {
      ConnackView connack;
      if (!mqtt::DecodeConnack(kVersion, packet.body, connack)) {
        return malformed();
      }
      const int code = connack.reason;
      if (code == 0) {
        state_ = ConnState::kConnected;
        events_.OnConnack(*this, 0);
      } else {
        events_.OnConnack(*this, code);
        Fail(true, {});  // the broker closes it anyway
        return false;
      }
      return true;
    }
    case PacketType::kPublish: {
      PublishView view;
      if (!mqtt::DecodePublish(kVersion, packet, view)) {
        return malformed();
      }
      if (view.qos == 1) {
        mqtt::EncodePuback(out_pending_, view.packet_id);
      }
      events_.OnPublish(*this, view);
      return true;
    }
    case PacketType::kPuback: {
      std::uint16_t id = 0;
      if (!mqtt::DecodeAck(packet.body, id)) {
        return malformed();
      }
      events_.OnPuback(*this, id);
      return true;
    }
    case PacketType::kSuback: {
      std::uint16_t id = 0;
      int granted = 0;
      if (!mqtt::DecodeSuback(kVersion, packet.body, id, granted)) {
        return malformed();
      }
      events_.OnSuback(*this, id, granted);
      return true;
    }
    case PacketType::kPingresp: return true;
    default: return malformed();  // a broker sends nothing else to a 3.1.1 client that never uses QoS 2
  }
}

void Connection::Fail(bool clean, const boost::system::error_code& ec) {
  if (state_ == ConnState::kClosed) {
    return;
  }
  state_ = ConnState::kClosed;
  boost::system::error_code ignored;
  socket_.close(ignored);
  out_pending_.clear();
  events_.OnClosed(*this, clean, ec);
}

}  // namespace iot::loadgen

#include "iot/mqtt/client.hpp"

#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace iot::mqtt {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBuffer = 64 * 1024;
constexpr std::size_t kMinReadSpace = 16 * 1024;

// A QoS 1 publish encoded before its packet id is known (the id goes in when it enters the window).
struct HeldPublish {
  std::string packet;
  std::size_t id_offset = 0;
};

}  // namespace

class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)),
        work_(asio::make_work_guard(io_)),
        socket_(io_),
        resolver_(io_),
        keepalive_timer_(io_),
        reader_(kReadBuffer, kMinReadSpace, options_.max_packet) {
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Impl() {
    asio::post(io_, [this] {
      Close("client destroyed");
      io_.stop();
    });
    work_.reset();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  MessageHandler on_message;
  LostHandler on_lost;

  ConnectResult Connect(std::chrono::milliseconds timeout) {
    auto done = std::make_shared<std::promise<ConnectResult>>();
    auto result = done->get_future();
    asio::post(io_, [this, done] { StartConnect(done); });
    if (result.wait_for(timeout) != std::future_status::ready) {
      asio::post(io_, [this] {
        if (state_ == State::kConnecting) {
          Fail("connect timed out");
        }
      });
      ConnectResult timed_out;
      timed_out.error = "no CONNACK within " + std::to_string(timeout.count()) + " ms";
      return timed_out;
    }
    return result.get();
  }

  int Request(std::chrono::milliseconds timeout, std::function<void(std::uint16_t id)> encode) {
    auto done = std::make_shared<std::promise<int>>();
    auto result = done->get_future();
    asio::post(io_, [this, done, encode = std::move(encode)] {
      if (state_ != State::kUp) {
        done->set_value(-1);
        return;
      }
      const std::uint16_t id = NextPacketId();
      requests_[id] = [done](int reason) { done->set_value(reason); };
      encode(id);
      Flush();
    });
    if (result.wait_for(timeout) != std::future_status::ready) {
      return -1;
    }
    return result.get();
  }

  int Subscribe(std::string_view filter, int qos, std::uint32_t subscription_id,
                std::chrono::milliseconds timeout) {
    return Request(timeout, [this, filter = std::string(filter), qos, subscription_id](std::uint16_t id) {
      EncodeSubscribe(control_out_, Version::k5, id, filter, qos, subscription_id);
    });
  }

  int Unsubscribe(std::string_view filter, std::chrono::milliseconds timeout) {
    return Request(timeout, [this, filter = std::string(filter)](std::uint16_t id) {
      EncodeUnsubscribe(control_out_, Version::k5, id, filter);
    });
  }

  void Disconnect(bool end_session, std::chrono::milliseconds timeout) {
    auto done = std::make_shared<std::promise<void>>();
    auto result = done->get_future();
    asio::post(io_, [this, done, end_session] {
      if (state_ != State::kUp) {
        Close("disconnected while not connected");
        done->set_value();
        return;
      }
      {
        std::lock_guard lock(publish_mutex_);
        control_out_.append(publish_out_);  // the replies still held go out before DISCONNECT
        publish_out_.clear();
        queued_ = held_qos1_.size();
      }
      EncodeDisconnect(control_out_, Version::k5, 0, end_session ? 0 : -1);
      state_ = State::kClosing;
      connected_ = false;
      disconnected_ = [done] { done->set_value(); };
      Flush();
    });
    if (result.wait_for(timeout) != std::future_status::ready) {
      asio::post(io_, [this] { Close("DISCONNECT not written in time"); });
    }
  }

  bool Publish(std::string_view topic, std::string_view payload, int qos) {
    std::lock_guard lock(publish_mutex_);
    if (queued_ >= options_.max_buffered) {
      return false;
    }
    if (qos == 0) {
      EncodePublish(publish_out_, Version::k5, topic, payload, 0, 0);
    } else {
      HeldPublish held;
      held.id_offset = EncodePublish(held.packet, Version::k5, topic, payload, 1, 0);
      held_qos1_.push_back(std::move(held));
      unacknowledged_.fetch_add(1, std::memory_order_relaxed);
    }
    ++queued_;
    if (!flush_posted_ && connected_.load(std::memory_order_relaxed)) {
      flush_posted_ = true;
      asio::post(io_, [this] { Flush(); });
    }
    return true;
  }

  bool Connected() const { return connected_.load(); }
  std::size_t Unacknowledged() const { return unacknowledged_.load(); }

 private:
  enum class State { kDown, kConnecting, kUp, kClosing };

  // Everything below runs on the I/O thread.

  std::uint16_t NextPacketId() {
    for (;;) {
      if (++packet_id_ == 0) {
        packet_id_ = 1;
      }
      if (!inflight_.count(packet_id_) && !requests_.count(packet_id_)) {
        return packet_id_;
      }
    }
  }

  void StartConnect(const std::shared_ptr<std::promise<ConnectResult>>& done) {
    if (state_ != State::kDown) {
      ConnectResult busy;
      busy.error = "already connected or connecting";
      done->set_value(busy);
      return;
    }
    state_ = State::kConnecting;
    const std::uint64_t generation = ++generation_;
    connect_done_ = [done](ConnectResult r) { done->set_value(std::move(r)); };
    resolver_.async_resolve(
        options_.host, std::to_string(options_.port),
        [this, generation](const boost::system::error_code& ec, const tcp::resolver::results_type& results) {
          if (generation != generation_) {
            return;
          }
          if (ec) {
            return Fail("cannot resolve " + options_.host + ": " + ec.message());
          }
          asio::async_connect(socket_, results,
                              [this, generation](const boost::system::error_code& ec2, const tcp::endpoint&) {
                                if (generation != generation_) {
                                  return;
                                }
                                if (ec2) {
                                  return Fail("TCP connect failed: " + ec2.message());
                                }
                                OnTcpConnected();
                              });
        });
  }

  void OnTcpConnected() {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    ConnectFields fields;
    fields.client_id = options_.client_id;
    fields.username = options_.username;
    fields.password = options_.password;
    fields.keepalive_s = static_cast<std::uint16_t>(options_.keepalive_s);
    fields.clean_start = options_.clean_start;
    fields.session_expiry_s = options_.session_expiry_s;
    control_out_.clear();
    EncodeConnect(control_out_, fields);
    reader_.Reset();
    last_receive_ = Clock::now();
    Flush();
    StartRead();
  }

  void OnConnack(const ConnackView& connack) {
    ConnectResult result;
    result.reason = connack.reason;
    result.session_present = connack.session_present;
    if (connack.reason != 0) {
      result.error = "CONNACK reason " + std::to_string(connack.reason);
      if (!connack.reason_string.empty()) {
        result.error += ": " + std::string(connack.reason_string);
      }
      auto done = std::exchange(connect_done_, nullptr);
      Close(result.error);
      if (done) {
        done(result);
      }
      return;
    }
    state_ = State::kUp;
    window_ = connack.receive_maximum;
    keepalive_s_ = connack.server_keepalive_s >= 0 ? connack.server_keepalive_s : options_.keepalive_s;
    // QoS 1 publishes the broker never acknowledged go out again first, in order, marked DUP.
    for (auto& [id, held] : inflight_) {
      held.packet[0] = static_cast<char>(held.packet[0] | 0x08);
      control_out_.append(held.packet);
    }
    {
      std::lock_guard lock(publish_mutex_);
      flush_posted_ = false;
      connected_ = true;
    }
    ScheduleKeepalive();
    result.ok = true;
    Flush();
    if (auto done = std::exchange(connect_done_, nullptr)) {
      done(result);
    }
  }

  void ScheduleKeepalive() {
    if (keepalive_s_ <= 0) {
      return;
    }
    const auto interval = std::chrono::milliseconds(std::max(500, keepalive_s_ * 500));
    keepalive_timer_.expires_after(interval);
    keepalive_timer_.async_wait([this, generation = generation_](const boost::system::error_code& ec) {
      if (ec || generation != generation_ || state_ != State::kUp) {
        return;
      }
      const auto silent = Clock::now() - last_receive_;
      if (silent > std::chrono::milliseconds(keepalive_s_ * 1500)) {
        return Fail("keepalive timeout: nothing from the broker for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(silent).count()) + " s");
      }
      EncodePingreq(control_out_);
      Flush();
      ScheduleKeepalive();
    });
  }

  // Writes what is queued unless a write is in flight (its completion calls Flush again).
  void Flush() {
    if (writing_ || state_ == State::kDown) {
      return;
    }
    writing_buffer_.clear();
    writing_buffer_.swap(control_out_);
    if (state_ == State::kUp) {
      std::lock_guard lock(publish_mutex_);
      flush_posted_ = false;
      if (writing_buffer_.empty()) {
        writing_buffer_.swap(publish_out_);
      } else {
        writing_buffer_.append(publish_out_);
        publish_out_.clear();
      }
      while (!held_qos1_.empty() && inflight_.size() < window_) {
        HeldPublish held = std::move(held_qos1_.front());
        held_qos1_.pop_front();
        const std::uint16_t id = NextPacketId();
        SetPacketId(held.packet, held.id_offset, id);
        writing_buffer_.append(held.packet);
        inflight_.emplace(id, std::move(held));
      }
      queued_ = held_qos1_.size();
    }
    if (writing_buffer_.empty()) {
      if (state_ == State::kClosing && !half_closed_) {
        // DISCONNECT is out: wait for the broker to close its side (OnRead), so that a Connect right
        // after this cannot overtake the acknowledgements and the DISCONNECT still in the broker's queue.
        half_closed_ = true;
        boost::system::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_send, ignored);
      }
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(writing_buffer_),
                      [this, generation = generation_](const boost::system::error_code& ec, std::size_t) {
                        if (generation != generation_) {
                          return;  // the connection this write belonged to is gone
                        }
                        writing_ = false;
                        if (ec) {
                          return Fail("write failed: " + ec.message());
                        }
                        Flush();
                      });
  }

  void StartRead() {
    reader_.Prepare();
    socket_.async_read_some(
        asio::buffer(reader_.Space(), reader_.SpaceSize()),
        [this, generation = generation_](const boost::system::error_code& ec, std::size_t n) {
          if (generation != generation_) {
            return;
          }
          OnRead(ec, n);
        });
  }

  void OnRead(const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      if (state_ == State::kClosing) {
        return Close("disconnected");  // the broker closed its side after our DISCONNECT
      }
      return Fail(ec == asio::error::eof ? "the broker closed the connection"
                                         : "read failed: " + ec.message());
    }
    last_receive_ = Clock::now();
    reader_.Commit(n);
    const std::uint64_t generation = generation_;
    for (;;) {
      Packet packet;
      const ParseStatus status = reader_.Next(packet);
      if (status == ParseStatus::kMalformed) {
        return Fail("malformed packet length from the broker (or above the largest accepted)");
      }
      if (status == ParseStatus::kNeedMore) {
        break;
      }
      Dispatch(packet);
      if (generation != generation_) {
        return;  // closed while handling it
      }
    }
    Flush();  // PUBACKs of this read, in one write
    StartRead();
  }

  void Dispatch(const Packet& packet) {
    switch (packet.Type()) {
      case PacketType::kConnack: {
        ConnackView connack;
        if (state_ != State::kConnecting || !DecodeConnack(Version::k5, packet.body, connack)) {
          return Fail("malformed or unexpected CONNACK");
        }
        return OnConnack(connack);
      }
      case PacketType::kPublish: {
        PublishView message;
        if (!DecodePublish(Version::k5, packet, message) || message.qos > 1) {
          return Fail("malformed PUBLISH (or QoS 2, never subscribed to)");
        }
        if (state_ != State::kUp) {
          return;  // closing: not acknowledged, so the broker delivers it again to the session
        }
        if (on_message) {
          on_message(message);
        }
        if (message.qos == 1) {
          EncodePuback(control_out_, message.packet_id);
        }
        return;
      }
      case PacketType::kPuback: {
        std::uint16_t id = 0;
        if (!DecodeAck(packet.body, id)) {
          return Fail("malformed PUBACK");
        }
        if (inflight_.erase(id) > 0) {  // the window has room again: the next Flush fills it
          unacknowledged_.fetch_sub(1, std::memory_order_relaxed);
        }
        return;
      }
      case PacketType::kSuback:
      case PacketType::kUnsuback: {
        std::uint16_t id = 0;
        int reason = 0;
        const bool ok = packet.Type() == PacketType::kSuback
                            ? DecodeSuback(Version::k5, packet.body, id, reason)
                            : DecodeUnsuback(Version::k5, packet.body, id, reason);
        if (!ok) {
          return Fail("malformed SUBACK or UNSUBACK");
        }
        if (auto it = requests_.find(id); it != requests_.end()) {
          auto done = std::move(it->second);
          requests_.erase(it);
          done(reason);
        }
        return;
      }
      case PacketType::kPingresp: return;
      case PacketType::kDisconnect: {
        int reason = 0;
        std::string_view reason_string;
        if (!DecodeDisconnect(packet.body, reason, reason_string)) {
          return Fail("malformed DISCONNECT from the broker");
        }
        std::string cause = "disconnected by the broker: reason " + std::to_string(reason);
        if (!reason_string.empty()) {
          cause += " (" + std::string(reason_string) + ")";
        }
        return Fail(cause);
      }
      default: return Fail("unexpected packet type " + std::to_string(static_cast<int>(packet.Type())));
    }
  }

  // The connection ended without Disconnect: tell whoever waits, and the owner if it was up.
  void Fail(const std::string& cause) {
    const bool was_up = state_ == State::kUp;
    Close(cause);
    if (was_up && on_lost) {
      on_lost(cause);
    }
  }

  // Closes the socket and forgets the connection's state, completing whatever waits on it (`cause` for a
  // pending Connect); held publishes and the QoS 1 publishes in flight stay for the next connection.
  void Close(const std::string& cause) {
    if (state_ == State::kDown) {
      return;
    }
    state_ = State::kDown;
    ++generation_;
    connected_ = false;
    writing_ = false;
    half_closed_ = false;
    boost::system::error_code ignored;
    resolver_.cancel();
    keepalive_timer_.cancel();
    socket_.close(ignored);
    control_out_.clear();
    reader_.Reset();
    auto requests = std::exchange(requests_, {});
    for (auto& [id, done] : requests) {
      done(-1);
    }
    if (auto done = std::exchange(disconnected_, nullptr)) {
      done();
    }
    if (auto done = std::exchange(connect_done_, nullptr)) {
      ConnectResult failed;
      failed.error = cause;
      done(failed);
    }
  }

  ClientOptions options_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer keepalive_timer_;
  std::thread thread_;

  // I/O thread only.
  State state_ = State::kDown;
  std::uint64_t generation_ = 0;  // bumped when a connection starts or ends: stale completions return
  std::function<void(ConnectResult)> connect_done_;
  std::function<void()> disconnected_;
  std::map<std::uint16_t, std::function<void(int)>> requests_;  // SUBSCRIBE / UNSUBSCRIBE by packet id
  std::map<std::uint16_t, HeldPublish> inflight_;               // QoS 1 publishes awaiting PUBACK
  std::size_t window_ = 65535;                                  // the broker's Receive Maximum
  int keepalive_s_ = 0;
  std::uint16_t packet_id_ = 0;
  Clock::time_point last_receive_{};
  std::string control_out_;
  std::string writing_buffer_;
  bool writing_ = false;
  bool half_closed_ = false;  // DISCONNECT written, waiting for the broker to close
  PacketReader reader_;

  // Shared with publishing threads.
  std::atomic<bool> connected_{false};
  std::atomic<std::size_t> unacknowledged_{0};
  std::mutex publish_mutex_;
  std::string publish_out_;            // encoded QoS 0 publishes
  std::deque<HeldPublish> held_qos1_;  // QoS 1 publishes waiting for a packet id (window or connection)
  std::size_t queued_ = 0;             // publishes in the two above
  bool flush_posted_ = false;
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Client::~Client() = default;

void Client::SetMessageHandler(MessageHandler handler) { impl_->on_message = std::move(handler); }

void Client::SetLostHandler(LostHandler handler) { impl_->on_lost = std::move(handler); }

ConnectResult Client::Connect(std::chrono::milliseconds timeout) { return impl_->Connect(timeout); }

int Client::Subscribe(std::string_view filter, int qos, std::uint32_t subscription_id,
                      std::chrono::milliseconds timeout) {
  return impl_->Subscribe(filter, qos, subscription_id, timeout);
}

int Client::Unsubscribe(std::string_view filter, std::chrono::milliseconds timeout) {
  return impl_->Unsubscribe(filter, timeout);
}

void Client::Disconnect(bool end_session, std::chrono::milliseconds timeout) {
  impl_->Disconnect(end_session, timeout);
}

bool Client::Publish(std::string_view topic, std::string_view payload, int qos) {
  return impl_->Publish(topic, payload, qos);
}

bool Client::Connected() const { return impl_->Connected(); }

std::size_t Client::Unacknowledged() const { return impl_->Unacknowledged(); }

}  // namespace iot::mqtt

// Private to the transport: the WebSocket session of GET /api/v1/stream, a template on the stream type
// like HttpSession (instantiated through StartWsSession in ws_session.cpp and wss_session.cpp). It owns the
// socket after the upgrade; what to send and what client messages mean is decided by stream::Service and the
// client's bounded queue, which wakes this session (a post onto its strand) when messages wait.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "iot/common/log.hpp"
#include "stream/protocol.hpp"
#include "stream/service.hpp"
#include "transport/http_session.hpp"
#include "transport/session.hpp"
#include "transport/stream_ops.hpp"
#include "transport/write_gather_stream.hpp"

namespace iot::api::transport::detail {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

inline constexpr std::string_view kWsLog = "api.stream";

// Without a frame from the client (pongs count) for this long the connection is closed; Beast pings
// at half of it.
inline constexpr auto kWsIdleTimeout = std::chrono::seconds(60);
// Frames gathered into one socket write at most (about one loopback TCP segment).
inline constexpr std::size_t kMaxGatherBytes = 64 * 1024;

template <class Stream>
class WsSession final : public Session, public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  WsSession(std::shared_ptr<ServerState> state, Stream&& stream, std::string remote,
            std::shared_ptr<stream::Client> client, std::shared_ptr<void> lease)
      : state_(std::move(state)),
        lease_(std::move(lease)),
        remote_(std::move(remote)),
        ws_(std::move(stream)),
        close_timer_(ws_.get_executor()),
        client_(std::move(client)) {
    state_->connections.fetch_add(1);
    state_->metrics.Connections().fetch_add(1);
  }

  ~WsSession() override {
    Finish();
    state_->connections.fetch_sub(1);
    state_->metrics.Connections().fetch_sub(1);
    std::lock_guard lock(state_->mutex);
    state_->sessions.erase(this);
  }

  template <class Body, class Allocator>
  void Start(http::request<Body, http::basic_fields<Allocator>>&& upgrade) {
    {
      std::lock_guard lock(state_->mutex);
      state_->sessions.emplace(this, this->weak_from_this());
    }
    StreamOps<LowestLayer<Stream>>::ExpiresNever(beast::get_lowest_layer(ws_));  // ws_ times itself
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = kWsIdleTimeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
      res.set(http::field::server, "iot-api");
      res.set("X-Content-Type-Options", "nosniff");
    }));
    ws_.read_message_max(stream::kMaxClientMessageBytes * 4);
    ws_.auto_fragment(false);
    ws_.async_accept(upgrade, beast::bind_front_handler(&WsSession::OnAccept, this->shared_from_this()));
  }

  void Shutdown() override {
    net::post(ws_.get_executor(), [self = this->shared_from_this()] {
      self->CloseWith(websocket::close_code::going_away, "server shutting down");
    });
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) {
      IOT_LOG_DEBUG(kWsLog, "msg=\"websocket accept failed\" remote=" << remote_ << " error="
                                                                      << log::Quote(ec.message()));
      Finish();
      return;
    }
    std::weak_ptr<WsSession> weak = this->shared_from_this();
    client_->SetWake([weak, executor = ws_.get_executor()] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) {
          self->DoWrite();
        }
      });
    });
    DoRead();
    DoWrite();
  }

  void DoRead() {
    ws_.async_read(buffer_, beast::bind_front_handler(&WsSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) {
      if (ec != websocket::error::closed && ec != net::error::operation_aborted) {
        IOT_LOG_DEBUG(kWsLog, "msg=\"websocket read ended\" remote=" << remote_ << " error="
                                                                     << log::Quote(ec.message()));
      }
      Finish();
      return;
    }
    const std::string text = beast::buffers_to_string(buffer_.data());
    buffer_.consume(buffer_.size());
    if (state_->stream != nullptr && !closing_) {
      state_->stream->OnMessage(client_, text, ws_.got_text());
    }
    DoRead();
  }

  void DoWrite() {
    if (closing_ || finished_) {
      return;
    }
    if (auto close = client_->PendingClose()) {
      CloseWith(static_cast<websocket::close_code>(close->code), close->reason);
      return;
    }
    // Checked before `writing_`: the write in progress may never finish when the peer stops reading.
    if (client_->Overflowed()) {
      if (state_->stream != nullptr) {
        state_->stream->OnSlow(client_);
      }
      CloseWith(websocket::close_code::policy_error, "client too slow: messages dropped");
      return;
    }
    if (writing_) {
      return;
    }
    bool more = false;
    auto next = client_->Pop(&more);
    if (!next) {
      return;
    }
    // While more messages wait, their frames are gathered and go out with the last one: one socket
    // write per drain (bounded by kMaxGatherBytes) instead of one per message.
    ws_.next_layer().Gather(more && ws_.next_layer().Gathered() < kMaxGatherBytes);
    current_ = std::move(*next);
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(*current_),
                    beast::bind_front_handler(&WsSession::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    writing_ = false;
    current_.reset();
    if (ec) {
      Finish();
      return;
    }
    DoWrite();
  }

  // Sends a close frame (after the write in progress, if any). A peer that does not read never lets
  // that write finish: the socket is closed when the write timeout passes.
  void CloseWith(websocket::close_code code, std::string_view reason) {
    if (closing_ || finished_) {
      return;
    }
    closing_ = true;
    client_->Close();
    ws_.next_layer().Gather(false);  // the close frame takes what was gathered with it
    close_timer_.expires_after(state_->settings.write_timeout);
    close_timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) {
        self->Finish();
      }
    });
    ws_.async_close(websocket::close_reason(code, reason.substr(0, 123)),
                    [self = this->shared_from_this()](beast::error_code) { self->Finish(); });
  }

  // Idempotent: reports the end to the service once and closes the socket.
  void Finish() {
    if (finished_) {
      return;
    }
    finished_ = true;
    if (state_->stream != nullptr) {
      state_->stream->OnClosed(client_);
    }
    close_timer_.cancel();
    StreamOps<LowestLayer<Stream>>::Close(beast::get_lowest_layer(ws_));
  }

  std::shared_ptr<ServerState> state_;
  std::shared_ptr<void> lease_;  // the connection's slot of its client address
  std::string remote_;
  websocket::stream<WriteGatherStream<Stream>> ws_;
  net::steady_timer close_timer_;
  std::shared_ptr<stream::Client> client_;
  beast::flat_buffer buffer_;
  stream::Message current_;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
};

template <class Stream>
void StartWsSession(std::shared_ptr<ServerState> state, Stream&& stream, std::string remote,
                    std::shared_ptr<stream::Client> client, std::shared_ptr<void> lease,
                    http::request<http::string_body>&& upgrade) {
  auto ws = std::make_shared<WsSession<Stream>>(std::move(state), std::move(stream), std::move(remote),
                                                std::move(client), std::move(lease));
  ws->Start(std::move(upgrade));
}

}  // namespace iot::api::transport::detail

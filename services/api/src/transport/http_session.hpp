// Private to the transport: the HTTP/1.1 session template, instantiated once per stream type in
// http_session.cpp (plain TCP) and https_session.cpp (TLS); the WebSocket session it hands upgrades to
// is instantiated in ws_session.cpp and wss_session.cpp. Four translation units, so the heavy
// instantiations compile in parallel (the TLS one alone took most of the transport's build time). One
// connection: reads requests with limits, hands them to the RequestHandler as plain iot::api::Request values,
// and writes responses back in request order. Everything runs on the connection's strand (the socket's
// executor); handlers answer from any thread through Respond, which posts back onto that strand.
//
// Bodies too large for memory stream (http/body_stream.hpp). A request whose target streams its body
// (IsStreamedBodyTarget: firmware uploads) is dispatched as soon as its header is read; its body then
// goes to the handler chunk by chunk through a bounded BodyChannel, and reading pauses while the channel
// is full (the socket is simply not read: TCP flow control holds the client back), so no I/O thread ever
// waits for the worker that writes the bytes away. A response with a ResponseSource (downloads) is
// written piece by piece: the next piece is asked for once the previous one is on the wire.
#pragma once

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "http/body_stream.hpp"
#include "http/problem.hpp"
#include "iot/common/log.hpp"
#include "stream/service.hpp"
#include "transport/session.hpp"
#include "transport/stream_ops.hpp"

// Aliases for the transport only (STYLE.md §3.3 allows them in its private headers).
namespace iot::api::transport {
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
}  // namespace iot::api::transport

namespace iot::api::transport::detail {

inline constexpr std::string_view kLog = "api.http";
inline constexpr auto kDrainTimeout = std::chrono::seconds(1);
inline constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

// Hands an upgraded connection to a new WebSocket session (ws_session.hpp), which answers `upgrade`.
// Explicitly instantiated per stream type in ws_session.cpp and wss_session.cpp (never here: that
// instantiation is the other half of the compile time).
template <class Stream>
void StartWsSession(std::shared_ptr<ServerState> state, Stream&& stream, std::string remote,
                    std::shared_ptr<stream::Client> client, std::shared_ptr<void> lease,
                    http::request<http::string_body>&& upgrade);

inline bool IsSaneRequestId(std::string_view id) {
  if (id.empty() || id.size() > 64) {
    return false;
  }
  for (char c : id) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

inline std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

inline constexpr std::size_t kHeaderReadChunk = 4096;

// True when a header section (request line and fields, each ending in CRLF) continues a field on the
// next line (obs-fold, RFC 9112 §5.2), which this server refuses rather than unfolds.
inline bool HasObsFold(std::string_view header) {
  for (auto at = header.find("\r\n"); at != std::string_view::npos; at = header.find("\r\n", at + 2)) {
    if (at + 2 < header.size() && (header[at + 2] == ' ' || header[at + 2] == '\t')) {
      return true;
    }
  }
  return false;
}

// RFC 9112 §3.2 and §6.3: exactly one Host (HTTP/1.1 must send one), and Transfer-Encoding, when
// present, only as the single coding "chunked" (any other coding, or chunked not last, makes the body
// length unknowable, and a proxy in front may have framed the message differently).
template <class Message>
std::optional<std::string> FramingProblem(const Message& message) {
  const auto hosts = message.count(http::field::host);
  if (hosts > 1) {
    return "more than one Host header field";
  }
  if (hosts == 0 && message.version() >= 11) {
    return "missing Host header field";
  }
  std::size_t codings = 0;
  bool other = false;
  const auto [first, last] = message.equal_range(http::field::transfer_encoding);
  for (auto field = first; field != last; ++field) {
    std::string_view rest = field->value();
    while (true) {
      const auto comma = rest.find(',');
      std::string_view coding = rest.substr(0, comma);
      while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) {
        coding.remove_prefix(1);
      }
      while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) {
        coding.remove_suffix(1);
      }
      ++codings;
      other = other || Lower(coding) != "chunked";
      if (comma == std::string_view::npos) {
        break;
      }
      rest.remove_prefix(comma + 1);
    }
  }
  if (codings > 0 && (other || codings != 1)) {
    return "unsupported Transfer-Encoding: only a single \"chunked\" is accepted";
  }
  return std::nullopt;
}

template <class Stream>
class HttpSession final : public Session, public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  template <class... StreamArgs>
  HttpSession(std::shared_ptr<ServerState> state, SessionOptions options, tcp::socket&& socket,
              StreamArgs&... args)
      : state_(std::move(state)),
        options_(std::move(options)),
        remote_(RemoteOf(socket)),
        stream_(std::move(socket), args...),
        idle_timer_(stream_.get_executor()) {}

  // On a stream already built (tests: Beast's test::stream), from `remote` ("address:port").
  HttpSession(std::shared_ptr<ServerState> state, SessionOptions options, Stream&& stream, std::string remote)
      : state_(std::move(state)),
        options_(std::move(options)),
        remote_(std::move(remote)),
        stream_(std::move(stream)),
        idle_timer_(stream_.get_executor()) {}

  ~HttpSession() override {
    state_->connections.fetch_sub(1);
    state_->metrics.Connections().fetch_sub(1);
    std::lock_guard lock(state_->mutex);
    state_->sessions.erase(this);
  }

  void Start() {
    {
      std::lock_guard lock(state_->mutex);
      state_->sessions.emplace(this, this->weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kIsTls<Stream>) {
        self->DoHandshake();
      } else {
        self->DoRead();
      }
    });
  }

  void Shutdown() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->closing_ = true;
      if (self->queue_.empty()) {
        self->DoClose();
      }
    });
  }

 private:
  // A response owed to the client, in request order.
  struct Slot {
    std::uint64_t seq = 0;
    bool ready = false;
    bool keep_alive = true;
    unsigned version = 11;
    std::string request_id;
    http::response<http::string_body> response;
    // A streamed body (Response::source): the header moves into `streamed` when the write starts.
    std::shared_ptr<ResponseSource> source;
    std::uint64_t stream_length = 0;
    std::uint64_t sent = 0;
    std::optional<http::response<http::buffer_body>> streamed;
    std::optional<http::response_serializer<http::buffer_body>> serializer;
    std::string piece;  // the piece being written
  };

  static std::string RemoteOf(const tcp::socket& socket) {
    beast::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    return ec ? "unknown" : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  using Ops = StreamOps<LowestLayer<Stream>>;
  LowestLayer<Stream>& Tcp() { return beast::get_lowest_layer(stream_); }

  void DoHandshake() {
    Ops::ExpiresAfter(Tcp(), kHandshakeTimeout);
    stream_.async_handshake(net::ssl::stream_base::server,
                            beast::bind_front_handler(&HttpSession::OnHandshake, this->shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      IOT_LOG_DEBUG(
          kLog, "msg=\"tls handshake failed\" remote=" << remote_ << " error=" << log::Quote(ec.message()));
      return;  // the stream closes with the session
    }
    DoRead();
  }

  void DoRead() {
    if (reading_ || read_closed_ || closing_ || closed_ || queue_.size() >= state_->settings.pipeline_limit) {
      return;  // resumed from OnWrite once there is room
    }
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->settings.header_limit));
    // The largest limit while the header is read (Beast checks Content-Length against it as the header
    // completes); OnHeader applies the route's own limit.
    parser_->body_limit(std::max({state_->settings.body_limit, state_->settings.import_body_limit,
                                  state_->settings.streamed_body_limit}));
    reading_ = true;
    // The idle timer bounds reads; Beast's own timer is kept for writes (it would also fire while a
    // slow handler, not the client, is the one we wait for).
    Ops::ExpiresNever(Tcp());
    if (queue_.empty()) {
      ArmIdleTimer();
    }
    DoReadHeaderBytes();
  }

  // Reads until the first header section in buffer_ is complete, so it can be checked as bytes before
  // Beast's parser sees it (the parser unfolds obs-fold silently), then lets the parser read the
  // message. Pipelined requests already buffered cost one scan and no read.
  void DoReadHeaderBytes() {
    const auto data = buffer_.data();
    const std::string_view bytes(static_cast<const char*>(data.data()), data.size());
    const auto end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos && bytes.size() <= state_->settings.header_limit) {
      stream_.async_read_some(buffer_.prepare(kHeaderReadChunk),
                              [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                                self->buffer_.commit(n);
                                if (ec || self->closed_) {
                                  self->OnRead(ec ? ec : net::error::operation_aborted, 0);
                                  return;
                                }
                                self->DoReadHeaderBytes();
                              });
      return;
    }
    if (end != std::string_view::npos && HasObsFold(bytes.substr(0, end + 2))) {
      reading_ = false;
      CancelIdleTimer();
      RefuseMalformed(ApiError::BadRequest("obsolete line folding in a header field"), "obs-fold");
      return;
    }
    // Complete (or over the header limit, which the parser reports as 431). The header first: the body
    // limit depends on the route (device imports have their own).
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&HttpSession::OnHeader, this->shared_from_this()));
  }

  std::size_t BodyLimitOfParser() const {
    if (parser_ && IsStreamedBodyTarget(parser_->get().method_string(), parser_->get().target())) {
      return state_->settings.streamed_body_limit;
    }
    return parser_ && IsImportTarget(parser_->get().method(), parser_->get().target())
               ? std::max(state_->settings.body_limit, state_->settings.import_body_limit)
               : state_->settings.body_limit;
  }

  static bool IsImportTarget(http::verb method, std::string_view target) {
    constexpr std::string_view kSuffix = "/devices:import";
    target = target.substr(0, target.find('?'));
    return method == http::verb::post && target.size() > kSuffix.size() &&
           target.substr(target.size() - kSuffix.size()) == kSuffix;
  }

  void OnHeader(beast::error_code ec, std::size_t bytes) {
    if (!ec && IsStreamedBodyTarget(parser_->get().method_string(), parser_->get().target())) {
      const auto length = parser_->content_length();
      if (!length || *length <= state_->settings.streamed_body_limit) {
        StartStreamedBody();
        return;
      }
      ec = http::error::body_limit;  // refused before a byte of it is read
    }
    if (!ec) {
      const std::size_t limit = BodyLimitOfParser();
      parser_->body_limit(limit);  // chunked bodies are checked as they arrive
      const auto length = parser_->content_length();
      if (length && *length > limit) {
        ec = http::error::body_limit;
      }
    }
    if (ec || parser_->is_done()) {
      OnRead(ec, bytes);
      return;
    }
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    CancelIdleTimer();
    if (closed_) {
      DoDrain();
      return;
    }
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::error::eof) {
      read_closed_ = true;
      if (queue_.empty()) {
        DoClose();
      }
      return;
    }
    if (ec) {
      read_closed_ = true;
      if (&ec.category() != &http::make_error_code(http::error::bad_target).category()) {
        IOT_LOG_DEBUG(kLog,
                      "msg=\"read failed\" remote=" << remote_ << " error=" << log::Quote(ec.message()));
        if (queue_.empty()) {
          DoClose();
        }
        return;
      }
      // The client broke HTTP or a limit: answer once, then close the connection.
      ApiError error = ec == http::error::body_limit
                           ? ApiError::PayloadTooLarge("request body exceeds " +
                                                       std::to_string(BodyLimitOfParser()) + " bytes")
                       : ec == http::error::header_limit
                           ? ApiError{.status = 431,
                                      .detail = "request header exceeds " +
                                                std::to_string(state_->settings.header_limit) + " bytes"}
                           : ApiError::BadRequest("malformed HTTP request: " + ec.message());
      RefuseMalformed(std::move(error), ec.message());
      return;
    }

    http::request<http::string_body> message = parser_->release();
    if (closing_) {
      return;  // shutting down: no new work; close once what is owed is written
    }
    if (auto problem = FramingProblem(message)) {
      RefuseMalformed(ApiError::BadRequest(*problem), *problem);
      return;
    }
    const bool keep_alive = message.keep_alive();
    read_closed_ = !keep_alive;
    // GET /api/v1/stream: the token is checked, then the socket moves to a WebSocket session.
    if (state_->stream != nullptr && beast::websocket::is_upgrade(message) &&
        stream::Service::IsStreamTarget(message.target())) {
      StartUpgrade(std::move(message));
      return;
    }
    Slot& slot = NewSlot(message.version(), keep_alive, NewRequestId(message["X-Request-Id"]));
    Request request = RequestOf(message, slot);
    request.body = std::move(message.body());
    Dispatch(std::move(request), slot);
    DoRead();
  }

  // The header of a request that streams its body is complete: dispatch it now, then read the body
  // into its channel (DoReadBodyChunk).
  void StartStreamedBody() {
    CancelIdleTimer();
    body_parser_.emplace(std::move(*parser_));
    parser_.reset();
    body_parser_->body_limit(state_->settings.streamed_body_limit);
    const auto& message = body_parser_->get();
    if (closing_) {
      body_parser_.reset();
      reading_ = false;
      return;  // shutting down: no new work
    }
    if (auto problem = FramingProblem(message)) {
      body_parser_.reset();
      reading_ = false;
      RefuseMalformed(ApiError::BadRequest(*problem), *problem);
      return;
    }
    const bool keep_alive = message.keep_alive();
    read_closed_ = !keep_alive;
    Slot& slot = NewSlot(message.version(), keep_alive, NewRequestId(message["X-Request-Id"]));
    body_seq_ = slot.seq;
    body_buffer_.resize(kBodyChunkBytes);
    body_channel_ = std::make_shared<BodyChannel>(
        std::chrono::duration_cast<std::chrono::milliseconds>(state_->settings.read_timeout));
    body_channel_->SetResume([weak = this->weak_from_this()] {
      if (auto self = weak.lock()) {
        net::post(self->stream_.get_executor(), [self] {
          self->body_paused_ = false;
          self->DoReadBodyChunk();
        });
      }
    });
    Request request = RequestOf(message, slot);
    std::optional<std::uint64_t> length;
    if (const auto announced = body_parser_->content_length()) {
      length = *announced;
    }
    request.body_stream = std::make_shared<RequestBody>(body_channel_, length);
    const bool expects_continue = Lower(message[http::field::expect]) == "100-continue";
    Dispatch(std::move(request), slot);
    if (expects_continue && queue_.size() == 1 && !writing_ && !queue_.front().ready) {
      // curl and others wait (a second) for this before sending a large body. Only when nothing else is
      // owed on the connection; writing_ keeps the real answer from interleaving with it.
      writing_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                         self->writing_ = false;
                         if (ec) {
                           self->queue_.clear();
                           self->DoClose();
                           return;
                         }
                         self->DoWrite();
                       });
    }
    DoReadBodyChunk();
  }

  void DoReadBodyChunk() {
    if (!body_parser_ || closed_ || body_paused_ || body_reading_) {
      return;
    }
    if (body_parser_->is_done()) {  // no body at all (Content-Length: 0)
      body_channel_->Finish();
      EndStreamedBody();
      DoRead();
      return;
    }
    auto& body = body_parser_->get().body();
    body.data = body_buffer_.data();
    body.size = body_buffer_.size();
    body_reading_ = true;
    // A client that stops sending: the handler's read times out first (read_timeout) and answers 408;
    // this backstop closes the connection if even that answer cannot go out.
    Ops::ExpiresAfter(Tcp(), 2 * state_->settings.read_timeout);
    http::async_read_some(stream_, buffer_, *body_parser_,
                          beast::bind_front_handler(&HttpSession::OnBodyChunk, this->shared_from_this()));
  }

  void OnBodyChunk(beast::error_code ec, std::size_t) {
    body_reading_ = false;
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (closed_) {
      body_channel_->Fail(BodyErrc::connection_aborted);
      EndStreamedBody();
      DoDrain();
      return;
    }
    const std::size_t got = body_buffer_.size() - body_parser_->get().body().size;
    if (got > 0 && !body_channel_->Push(std::string(body_buffer_.data(), got))) {
      body_paused_ = true;  // resumed by the channel once the handler has taken a chunk
    }
    if (ec) {
      // The handler sees the failure and answers (413 for the limit); the connection closes after it.
      body_channel_->Fail(ec == http::error::body_limit ? BodyErrc::file_too_large
                          : ec == beast::error::timeout ? BodyErrc::timed_out
                                                        : BodyErrc::connection_aborted);
      IOT_LOG_DEBUG(kLog, "msg=\"streamed body ended early\" remote=" << remote_ << " error="
                                                                      << log::Quote(ec.message()));
      EndStreamedBody();
      read_closed_ = true;
      return;
    }
    if (body_parser_->is_done()) {
      body_channel_->Finish();
      EndStreamedBody();
      DoRead();
      return;
    }
    DoReadBodyChunk();
  }

  void EndStreamedBody() {
    if (!writing_) {
      Ops::ExpiresNever(Tcp());  // (a write in progress keeps its own deadline)
    }
    body_parser_.reset();
    body_channel_.reset();
    std::string().swap(body_buffer_);  // idle connections keep no chunk buffer
    body_paused_ = false;
    reading_ = false;
  }

  // Answers a request that broke HTTP once (after what is owed before it), then closes the connection:
  // nothing after it on this connection can be trusted to be framed as the client meant.
  void RefuseMalformed(ApiError error, std::string_view why) {
    read_closed_ = true;
    Slot& slot = NewSlot(11, false, NewRequestId({}));
    const int status = error.status;
    FillResponse(slot, ToResponse(error));
    state_->metrics.ObserveRequest("unparsed", "OTHER", status, 0.0);
    IOT_LOG_INFO("api.access", "msg=\"request refused\" route=\"unparsed\" status="
                                   << status << " request_id=" << slot.request_id << " remote=" << remote_
                                   << " error=" << log::Quote(why));
    DoWrite();
  }

  // An upgrade is the last request read on this connection; nothing else may be owed before it.
  void StartUpgrade(http::request<http::string_body>&& message) {
    read_closed_ = true;
    Slot& slot = NewSlot(message.version(), false, NewRequestId(message["X-Request-Id"]));
    if (queue_.size() > 1) {
      FillResponse(slot, ToResponse(ApiError::BadRequest("a WebSocket upgrade must not be pipelined")));
      DoWrite();
      return;
    }
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      request.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
    }
    request.remote_address = remote_;
    request.client_address = ClientAddress(request, state_->settings.trusted_proxies);
    request.operations = options_.operations;
    request.request_id = slot.request_id;
    upgrade_ = std::move(message);
    state_->stream->Authorize(
        std::move(request), [self = this->shared_from_this(), seq = slot.seq](stream::UpgradeDecision d) {
          net::post(self->stream_.get_executor(),
                    [self, seq, d = std::move(d)]() mutable { self->OnUpgradeDecision(seq, std::move(d)); });
        });
  }

  void OnUpgradeDecision(std::uint64_t seq, stream::UpgradeDecision&& decision) {
    if (closed_ || closing_ || decision.refusal) {
      if (decision.client) {
        state_->stream->OnClosed(decision.client);
      }
      OnResponse(seq, decision.refusal ? std::move(*decision.refusal)
                                       : ToResponse(ApiError::Unavailable("server shutting down")));
      return;
    }
    // Nothing is read, written or timed on stream_ now: hand it over.
    queue_.clear();
    CancelIdleTimer();
    closed_ = true;
    auto upgrade = std::move(*upgrade_);
    upgrade_.reset();
    StartWsSession(state_, std::move(stream_), remote_, std::move(decision.client), options_.lease,
                   std::move(upgrade));
  }

  Slot& NewSlot(unsigned version, bool keep_alive, std::string request_id) {
    Slot& slot = queue_.emplace_back();
    slot.seq = next_seq_++;
    slot.version = version;
    slot.keep_alive = keep_alive;
    slot.request_id = std::move(request_id);
    return slot;
  }

  std::string NewRequestId(std::string_view offered) {
    if (IsSaneRequestId(offered)) {
      return std::string(offered);
    }
    return state_->request_id_prefix + std::to_string(state_->next_request_id.fetch_add(1));
  }

  template <class Message>
  Request RequestOf(const Message& message, const Slot& slot) {
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.headers.reserve(8);
    for (const auto& field : message) {
      request.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
    }
    request.remote_address = remote_;
    request.client_address = ClientAddress(request, state_->settings.trusted_proxies);
    request.operations = options_.operations;
    request.request_id = slot.request_id;
    return request;
  }

  void Dispatch(Request&& request, const Slot& slot) {
    Respond respond([self = this->shared_from_this(), seq = slot.seq](Response&& response) {
      net::post(self->stream_.get_executor(), [self, seq, response = std::move(response)]() mutable {
        self->OnResponse(seq, std::move(response));
      });
    });
    try {
      state_->handler.Handle(std::move(request), std::move(respond));
    } catch (const std::exception& e) {
      // Dispatcher never throws; a test double might. Respond's destructor answers 500.
      IOT_LOG_ERROR(kLog, "msg=\"request handler threw\" what=" << log::Quote(e.what()));
    }
  }

  void OnResponse(std::uint64_t seq, Response&& response) {
    if (queue_.empty() || seq < queue_.front().seq || seq - queue_.front().seq >= queue_.size()) {
      return;  // connection already failed and dropped its queue
    }
    Slot& slot = queue_[seq - queue_.front().seq];
    FillResponse(slot, std::move(response));
    DoWrite();
  }

  void FillResponse(Slot& slot, Response&& response) {
    auto& res = slot.response;
    res.version(slot.version);
    res.result(static_cast<unsigned>(response.status));
    res.set(http::field::server, "iot-api");
    res.set("X-Request-Id", slot.request_id);
    res.set("X-Content-Type-Options", "nosniff");
    if (!response.body.empty() || response.status != 204) {
      res.set(http::field::content_type, response.content_type);
    }
    for (auto& [name, value] : response.headers) {
      res.set(name, value);
    }
    if (body_parser_ && slot.seq == body_seq_) {
      // Answered before its body ended (a refusal): the rest of the body is not read, so nothing after
      // it on this connection could be framed; close once this is written.
      slot.keep_alive = false;
      read_closed_ = true;
    }
    res.keep_alive(slot.keep_alive && !closing_);
    if (response.source) {
      slot.source = std::move(response.source);
      slot.stream_length = response.stream_length;
      res.content_length(response.stream_length);
    } else {
      res.body() = std::move(response.body);
      res.prepare_payload();
    }
    slot.ready = true;
  }

  void DoWrite() {
    if (writing_ || closed_ || queue_.empty() || !queue_.front().ready) {
      return;
    }
    writing_ = true;
    Ops::ExpiresAfter(Tcp(), state_->settings.write_timeout);  // a client that does not read is dropped
    Slot& front = queue_.front();
    if (front.source) {
      front.streamed.emplace(std::move(front.response.base()));
      front.streamed->body().data = nullptr;
      front.streamed->body().more = true;
      front.serializer.emplace(*front.streamed);
      http::async_write_header(
          stream_, *front.serializer,
          beast::bind_front_handler(&HttpSession::OnPieceWritten, this->shared_from_this()));
      return;
    }
    http::async_write(stream_, front.response,
                      beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this()));
  }

  // A streamed response: the header or a piece is written; ask for the next piece (or finish).
  void OnPieceWritten(beast::error_code ec, std::size_t) {
    if (ec == http::error::need_buffer) {
      ec = {};
    }
    if (ec || closed_ || queue_.empty()) {
      OnWrite(ec ? ec : net::error::operation_aborted, 0);
      return;
    }
    Slot& front = queue_.front();
    if (front.serializer->is_done()) {
      OnWrite({}, 0);
      return;
    }
    front.source->Next([self = this->shared_from_this(), seq = front.seq](Result<std::string> piece) {
      net::post(self->stream_.get_executor(),
                [self, seq, piece = std::move(piece)]() mutable { self->OnPiece(seq, std::move(piece)); });
    });
  }

  void OnPiece(std::uint64_t seq, Result<std::string> piece) {
    if (closed_ || queue_.empty() || queue_.front().seq != seq) {
      writing_ = false;
      return;
    }
    Slot& front = queue_.front();
    const std::uint64_t size = piece ? piece->size() : 0;
    if (!piece || front.sent + size > front.stream_length ||
        (size == 0 && front.sent != front.stream_length)) {
      // The promised length cannot be kept: ending the connection is the only honest signal left.
      IOT_LOG_WARN(kLog, "msg=\"streamed response failed\" remote="
                             << remote_ << " sent=" << front.sent << " length=" << front.stream_length
                             << " error=" << log::Quote(piece ? "length mismatch" : piece.error().message()));
      OnWrite(net::error::operation_aborted, 0);
      return;
    }
    front.sent += size;
    front.piece = std::move(*piece);
    auto& body = front.streamed->body();
    body.data = size == 0 ? nullptr : front.piece.data();
    body.size = front.piece.size();
    body.more = size != 0;
    Ops::ExpiresAfter(Tcp(), state_->settings.write_timeout);
    http::async_write(stream_, *front.serializer,
                      beast::bind_front_handler(&HttpSession::OnPieceWritten, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) {
      queue_.clear();
      DoClose();
      return;
    }
    const bool keep_alive = queue_.front().streamed ? queue_.front().streamed->keep_alive()
                                                    : queue_.front().response.keep_alive();
    queue_.pop_front();
    if (!keep_alive || (queue_.empty() && (read_closed_ || closing_))) {
      queue_.clear();
      DoClose();
      return;
    }
    DoWrite();
    DoRead();
    if (queue_.empty() && reading_) {
      ArmIdleTimer();  // the client's turn again: give it a full read timeout from now
    }
  }

  void ArmIdleTimer() {
    const auto generation = ++timer_generation_;
    idle_timer_.expires_after(state_->settings.read_timeout);
    idle_timer_.async_wait([self = this->shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->timer_generation_ || !self->queue_.empty()) {
        return;  // cancelled, re-armed, or we owe responses (the timer is re-armed after them)
      }
      IOT_LOG_DEBUG(kLog, "msg=\"read timeout, closing\" remote=" << self->remote_);
      self->DoClose();
    });
  }

  void CancelIdleTimer() {
    ++timer_generation_;
    idle_timer_.cancel();
  }

  // Half-close, then read and discard what the client still sends for a moment before closing: closing
  // with unread data makes the kernel send RST, which can destroy a 413 the client has not read yet.
  void DoClose() {
    if (closed_) {
      return;
    }
    closed_ = true;
    CancelIdleTimer();
    Ops::ShutdownSend(Tcp());
    if (reading_ && (!body_parser_ || body_reading_)) {
      Ops::Cancel(Tcp());  // OnRead (OnBodyChunk) continues with DoDrain
      return;
    }
    if (body_parser_) {  // a streamed body paused with no read pending
      body_channel_->Fail(BodyErrc::connection_aborted);
      EndStreamedBody();
    }
    DoDrain();
  }

  void DoDrain() {
    if (!drain_started_) {
      drain_started_ = true;
      Ops::ExpiresAfter(Tcp(), kDrainTimeout);
    }
    Tcp().async_read_some(net::buffer(drain_buffer_),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) {
                              Ops::Close(self->Tcp());
                              return;
                            }
                            self->DoDrain();
                          });
  }

  std::shared_ptr<ServerState> state_;
  SessionOptions options_;
  std::string remote_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::request<http::string_body>> upgrade_;  // kept for the WebSocket handshake
  // The request body being streamed (StartStreamedBody), its channel and the slot it answers.
  std::optional<http::request_parser<http::buffer_body>> body_parser_;
  std::shared_ptr<BodyChannel> body_channel_;
  std::uint64_t body_seq_ = 0;
  bool body_reading_ = false;  // a read of the body is pending
  bool body_paused_ = false;   // the channel is full: the body is not read until it has room
  std::string body_buffer_;    // kBodyChunkBytes while a body streams
  net::steady_timer idle_timer_;
  std::uint64_t timer_generation_ = 0;
  std::deque<Slot> queue_;  // references stay valid across push_back/pop_front
  std::uint64_t next_seq_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool read_closed_ = false;  // no further requests will be read (EOF, error, Connection: close)
  bool closing_ = false;      // server shutdown requested
  bool closed_ = false;
  bool drain_started_ = false;
  std::array<char, 4096> drain_buffer_{};
};

}  // namespace iot::api::transport::detail

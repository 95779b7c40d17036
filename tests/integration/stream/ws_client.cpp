#include "ws_client.hpp"

#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace iot::stream::itest {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buffer;
  std::thread thread;
  std::deque<std::string> outbox;  // on the io thread
  bool reading = false;

  mutable std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> inbox;
  std::size_t received = 0;
  bool ended = false;
  int close_code = 0;

  void DoRead() {
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t) {
      std::lock_guard lock(mutex);
      if (ec) {
        ended = true;
        close_code = ws.reason().code;
        cv.notify_all();
        return;
      }
      inbox.push_back(beast::buffers_to_string(buffer.data()));
      buffer.consume(buffer.size());
      ++received;
      cv.notify_all();
      DoRead();
    });
  }

  void DoWrite() {
    ws.text(true);
    ws.async_write(net::buffer(outbox.front()), [this](beast::error_code ec, std::size_t) {
      outbox.pop_front();
      if (!ec && !outbox.empty()) {
        DoWrite();
      }
    });
  }
};

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<WsClient> WsClient::Connect(int port, const Options& options, int* status,
                                            std::string* body) {
  auto impl = std::make_unique<Impl>();
  auto& socket = impl->ws.next_layer();
  socket.open(tcp::v4());
  if (options.receive_buffer > 0) {
    socket.set_option(net::socket_base::receive_buffer_size(options.receive_buffer));
  }
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  impl->ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& req) {
    if (!options.bearer.empty()) {
      req.set(beast::http::field::authorization, "Bearer " + options.bearer);
    }
  }));
  impl->ws.read_message_max(64 * 1024 * 1024);
  websocket::response_type response;
  beast::error_code ec;
  impl->ws.handshake(response, "127.0.0.1", options.target, ec);
  if (status != nullptr) {
    *status = static_cast<int>(response.result_int());
  }
  if (body != nullptr) {
    *body = response.body();
  }
  if (ec) {
    return nullptr;
  }
  std::unique_ptr<WsClient> client(new WsClient(std::move(impl)));
  Impl* raw = client->impl_.get();
  raw->thread = std::thread([raw] {
    auto guard = net::make_work_guard(raw->ioc);
    raw->ioc.run();
  });
  if (options.start_reading) {
    client->StartReading();
  }
  return client;
}

WsClient::~WsClient() {
  net::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->ws.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
    impl->ws.next_layer().close(ignored);
  });
  impl_->ioc.stop();
  impl_->thread.join();
}

void WsClient::Send(const std::string& text) {
  net::post(impl_->ioc, [impl = impl_.get(), text] {
    impl->outbox.push_back(text);
    if (impl->outbox.size() == 1) {
      impl->DoWrite();
    }
  });
}

void WsClient::StartReading() {
  net::post(impl_->ioc, [impl = impl_.get()] {
    if (!impl->reading) {
      impl->reading = true;
      impl->DoRead();
    }
  });
}

std::optional<nlohmann::json> WsClient::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  impl_->cv.wait_for(lock, timeout, [&] { return !impl_->inbox.empty() || impl_->ended; });
  if (impl_->inbox.empty()) {
    return std::nullopt;
  }
  std::string text = std::move(impl_->inbox.front());
  impl_->inbox.pop_front();
  return nlohmann::json::parse(text, nullptr, false);
}

std::optional<nlohmann::json> WsClient::WaitFor(const std::function<bool(const nlohmann::json&)>& match,
                                                std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return std::nullopt;
    }
    auto m = Next(left);
    if (!m) {
      return std::nullopt;
    }
    if (match(*m)) {
      return m;
    }
  }
}

bool WsClient::Quiet(std::chrono::milliseconds timeout) { return !Next(timeout).has_value(); }

std::optional<int> WsClient::WaitClosed(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mutex);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return impl_->ended; })) {
    return std::nullopt;
  }
  return impl_->close_code;
}

std::size_t WsClient::Received() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->received;
}

}  // namespace iot::stream::itest

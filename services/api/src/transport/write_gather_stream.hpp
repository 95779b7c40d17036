// Private to the transport: a stream layer under Beast's websocket::stream that lets the live-stream
// session put many WebSocket frames into one socket write. Beast writes every message (and its
// control frames) with its own write, i.e. one sendmsg per message: at 10 clients x 5,000 messages/s
// that syscall and its TCP work were half of iot-api's CPU. While the session says more messages are
// queued (Gather(true)), writes are copied into a buffer and complete at once; the next write made
// with Gather(false) sends the buffer and itself in one write. Beast never has two writes in flight
// on one stream, so the buffer is never touched by two writes at a time.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace iot::api::transport::detail {

template <class NextLayer>
class WriteGatherStream {
 public:
  using executor_type = typename NextLayer::executor_type;
  using next_layer_type = NextLayer;

  explicit WriteGatherStream(NextLayer&& next) : next_(std::move(next)) {}

  executor_type get_executor() noexcept { return next_.get_executor(); }
  NextLayer& next_layer() noexcept { return next_; }
  const NextLayer& next_layer() const noexcept { return next_; }

  // Gather the next writes (more follow at once) or send what was gathered with the next write.
  void Gather(bool on) { gather_ = on; }
  std::size_t Gathered() const { return buffer_.size(); }

  template <class MutableBufferSequence, class ReadHandler>
  void async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    next_.async_read_some(buffers, std::forward<ReadHandler>(handler));
  }

  template <class ConstBufferSequence, class WriteHandler>
  void async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    const std::size_t size = boost::asio::buffer_size(buffers);
    if (!gather_ && buffer_.empty()) {
      next_.async_write_some(buffers, std::forward<WriteHandler>(handler));
      return;
    }
    const std::size_t old = buffer_.size();
    buffer_.resize(old + size);
    boost::asio::buffer_copy(boost::asio::buffer(buffer_.data() + old, size), buffers);
    if (gather_) {
      boost::asio::post(get_executor(), boost::beast::bind_front_handler(std::forward<WriteHandler>(handler),
                                                                         boost::beast::error_code{}, size));
      return;
    }
    auto executor = boost::asio::get_associated_executor(handler, get_executor());
    boost::asio::async_write(
        next_, boost::asio::buffer(buffer_),
        boost::asio::bind_executor(executor, [this, size, handler = std::forward<WriteHandler>(handler)](
                                                 boost::beast::error_code ec, std::size_t) mutable {
          buffer_.clear();
          std::move(handler)(ec, ec ? 0 : size);
        }));
  }

 private:
  NextLayer next_;
  std::string buffer_;
  bool gather_ = false;
};

// Beast's websocket close handshake ends with a teardown of the next layer: the wrapped stream's.
template <class NextLayer>
void teardown(boost::beast::role_type role, WriteGatherStream<NextLayer>& stream,
              boost::beast::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, WriteGatherStream<NextLayer>& stream,
                    TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

}  // namespace iot::api::transport::detail

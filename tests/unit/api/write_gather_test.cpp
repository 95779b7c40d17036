#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "transport/write_gather_stream.hpp"

namespace net = boost::asio;
using iot::api::transport::detail::WriteGatherStream;

namespace {

// The next layer: records every write_some call and what it carried; completes like a socket.
struct RecordingStream {
  using executor_type = net::io_context::executor_type;
  net::io_context* io;
  std::vector<std::string>* writes;
  executor_type get_executor() { return io->get_executor(); }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    std::string data(net::buffer_size(buffers), '\0');
    net::buffer_copy(net::buffer(data), buffers);
    writes->push_back(data);
    net::post(*io, [h = std::forward<Handler>(handler), n = data.size()]() mutable { h({}, n); });
  }
  template <class Buffers, class Handler>
  void async_read_some(const Buffers&, Handler&&) {}
};

}  // namespace

TEST_CASE("WriteGatherStream: gathered frames go out with the next ungathered write, in order",
          "[api][transport]") {
  net::io_context io;
  std::vector<std::string> writes;
  WriteGatherStream<RecordingStream> stream(RecordingStream{&io, &writes});
  std::vector<std::size_t> completed;
  auto write = [&](std::string text) {
    auto owned = std::make_shared<std::string>(std::move(text));
    net::async_write(stream, net::buffer(*owned),
                     [&completed, owned](boost::system::error_code ec, std::size_t n) {
                       REQUIRE_FALSE(ec);
                       completed.push_back(n);
                     });
    io.run();
    io.restart();
  };

  write("plain");  // nothing gathered: straight through
  REQUIRE(writes == std::vector<std::string>{"plain"});

  stream.Gather(true);
  write("one,");
  write("two,");
  write("three,");
  CHECK(writes.size() == 1);  // nothing reached the socket yet
  CHECK(stream.Gathered() == 14);
  CHECK(completed == std::vector<std::size_t>{5, 4, 4, 6});  // each write completed with its own size

  stream.Gather(false);
  write("four");
  REQUIRE(writes.size() == 2);
  CHECK(writes[1] == "one,two,three,four");  // one socket write, in order
  CHECK(completed.back() == 4);              // the caller's own bytes, not the gathered ones
  CHECK(stream.Gathered() == 0);

  write("five");
  CHECK(writes.back() == "five");
}

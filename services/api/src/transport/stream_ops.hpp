// Private to the transport: what the session templates do to the connection beneath their stream
// (timeouts, half-close, cancel, close), per lowest layer. beast::tcp_stream is the server's; the
// transport tests add a StreamOps for Beast's test::stream, so the same sessions run over it.
#pragma once

#include <chrono>
#include <type_traits>
#include <utility>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace iot::api::transport::detail {

template <class Stream>
using LowestLayer =
    std::remove_reference_t<decltype(boost::beast::get_lowest_layer(std::declval<Stream&>()))>;

// TLS streams shake hands before the first read.
template <class Stream>
struct IsTls : std::false_type {};
template <class Next>
struct IsTls<boost::beast::ssl_stream<Next>> : std::true_type {};
template <class Stream>
inline constexpr bool kIsTls = IsTls<Stream>::value;

template <class Lowest>
struct StreamOps;

template <>
struct StreamOps<boost::beast::tcp_stream> {
  using Stream = boost::beast::tcp_stream;
  static void ExpiresAfter(Stream& s, std::chrono::steady_clock::duration d) { s.expires_after(d); }
  static void ExpiresNever(Stream& s) { s.expires_never(); }
  static void ShutdownSend(Stream& s) {
    boost::beast::error_code ignored;
    s.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
  }
  static void Cancel(Stream& s) {
    boost::beast::error_code ignored;
    s.socket().cancel(ignored);
  }
  static void Close(Stream& s) {
    boost::beast::error_code ignored;
    s.socket().close(ignored);
  }
};

}  // namespace iot::api::transport::detail

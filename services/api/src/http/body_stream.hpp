#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/errc.hpp>

#include "iot/common/result.hpp"

// Request and response bodies that are too large to hold in memory (firmware uploads and downloads),
// moved piece by piece between the transport (Asio I/O threads, which never block) and a handler's
// worker (a DB pool thread, which may).
//
// Uploads: the transport reads the body in chunks of at most kBodyChunkBytes and pushes each into a
// BodyChannel that holds at most kBodyChannelChunks of them. When the channel is full the transport
// stops reading the socket (TCP flow control then slows the client down) until the worker has taken a
// chunk: memory per upload stays bounded at about kBodyChunkBytes * (kBodyChannelChunks + 1) whatever
// the size of the body, and the I/O thread never waits. The worker blocks in Read() (it holds the
// database transaction the bytes go into anyway), at most `idle_timeout` per chunk.
namespace iot::api {

using BodyErrc = boost::system::errc::errc_t;

inline constexpr std::size_t kBodyChunkBytes = 64 * 1024;
inline constexpr std::size_t kBodyChannelChunks = 4;

// Whether a request's body streams (read chunk by chunk into Request::body_stream, up to
// ServerSettings::streamed_body_limit) instead of being read whole into Request::body: POST
// /api/v1/products/{pk}/firmwares (raw target, the query ignored).
bool IsStreamedBodyTarget(std::string_view method, std::string_view target);

// Why a streamed body ended early (RequestBody::Read's error codes, generic conditions; FromBodyError
// maps them to statuses):
//   file_too_large      the body exceeds the route's limit (the client gets 413)
//   connection_aborted  the connection failed or the request was malformed mid-body
//   timed_out           no byte arrived within the idle timeout
class BodyChannel final {
 public:
  explicit BodyChannel(std::chrono::milliseconds idle_timeout, std::size_t max_chunks = kBodyChannelChunks)
      : idle_timeout_(idle_timeout), max_chunks_(max_chunks) {}

  // Transport side (any thread; never blocks). Push returns false when the channel is full after it:
  // the transport stops reading until `resume` (SetResume) is called. After Abandon() pushed bytes are
  // dropped and Push keeps returning true (the transport reads the rest of the body to discard it).
  bool Push(std::string chunk);
  void Finish();                                 // the whole body was pushed
  void Fail(BodyErrc why);                       // the body ends early
  void SetResume(std::function<void()> resume);  // called from the reader's thread once there is room

  // Reader side: up to `capacity` bytes into `out`; 0 at the end of the body; an error as above.
  Result<std::size_t> Read(char* out, std::size_t capacity);
  // The reader stops reading (it answered, or gave up): queued and later chunks are dropped.
  void Abandon();
  bool Abandoned() const;

 private:
  const std::chrono::milliseconds idle_timeout_;
  const std::size_t max_chunks_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  std::size_t offset_ = 0;  // bytes of chunks_.front() already read
  bool finished_ = false;
  std::optional<BodyErrc> failure_;
  bool abandoned_ = false;
  bool producer_waiting_ = false;
  std::function<void()> resume_;
};

// What a handler holds of a streamed request body (Request::body_stream). The last copy of the
// request going away abandons the channel, so a handler that answers without reading (an error, a
// refusal) never leaves the transport waiting.
class RequestBody final {
 public:
  RequestBody(std::shared_ptr<BodyChannel> channel, std::optional<std::uint64_t> content_length)
      : channel_(std::move(channel)), content_length_(content_length) {}
  ~RequestBody() { channel_->Abandon(); }
  RequestBody(const RequestBody&) = delete;
  RequestBody& operator=(const RequestBody&) = delete;

  Result<std::size_t> Read(char* out, std::size_t capacity) { return channel_->Read(out, capacity); }
  void Abandon() { channel_->Abandon(); }
  // The Content-Length the client announced (none for chunked bodies).
  std::optional<std::uint64_t> ContentLength() const { return content_length_; }

 private:
  std::shared_ptr<BodyChannel> channel_;
  std::optional<std::uint64_t> content_length_;
};

// A response body produced piece by piece (Response::source): the transport asks for the next piece
// once it has written the previous one, so at most one piece per response is in memory. Next() may
// answer from any thread; an error (or fewer bytes than Response::stream_length promised) ends the
// connection, which is all HTTP/1.1 can do once the header is out.
class ResponseSource {
 public:
  virtual ~ResponseSource() = default;
  // Calls `done` exactly once with the next piece; an empty piece ends the body.
  virtual void Next(std::function<void(Result<std::string>)> done) = 0;
};

}  // namespace iot::api

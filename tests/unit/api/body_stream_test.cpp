// Streamed bodies without sockets: the bounded channel between the transport and a handler's worker
// (backpressure, end, failures, abandon, the idle timeout), which targets stream, and Range parsing.
#include "http/body_stream.hpp"

#include <atomic>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "http/byte_range.hpp"

using iot::api::BodyChannel;
using iot::api::BodyErrc;
using iot::api::ByteRange;
using iot::api::ParseRange;
using iot::api::RangeKind;
using namespace std::chrono_literals;

namespace {

std::string ReadAll(BodyChannel& channel, iot::Result<std::size_t>* last = nullptr) {
  std::string out;
  char buffer[7];
  while (true) {
    auto n = channel.Read(buffer, sizeof buffer);
    if (last != nullptr) {
      *last = n;
    }
    if (!n || *n == 0) {
      return out;
    }
    out.append(buffer, *n);
  }
}

}  // namespace

TEST_CASE("BodyChannel: the producer is told to pause when full and resumed once the reader takes a chunk",
          "[body_stream]") {
  BodyChannel channel(5s, 2);
  std::atomic<int> resumed{0};
  channel.SetResume([&] { resumed.fetch_add(1); });
  CHECK(channel.Push("abc"));
  CHECK_FALSE(channel.Push("defgh"));  // two chunks queued: full
  CHECK(resumed == 0);
  char buffer[16];
  auto n = channel.Read(buffer, 2);  // part of the first chunk: still full
  REQUIRE(n);
  CHECK(std::string(buffer, *n) == "ab");
  CHECK(resumed == 0);
  n = channel.Read(buffer, sizeof buffer);
  REQUIRE(n);
  CHECK(std::string(buffer, *n) == "c");
  CHECK(resumed == 1);  // the first chunk is gone: room again
  channel.Finish();
  CHECK(ReadAll(channel) == "defgh");
  iot::Result<std::size_t> last = std::size_t{99};
  ReadAll(channel, &last);
  REQUIRE(last);
  CHECK(*last == 0);
}

TEST_CASE("BodyChannel: a reader on another thread gets every byte in order", "[body_stream]") {
  BodyChannel channel(5s, 3);
  std::atomic<bool> room{true};
  channel.SetResume([&] { room = true; });
  std::string expected;
  std::string got;
  std::thread reader([&] { got = ReadAll(channel); });
  for (int i = 0; i < 2000; ++i) {
    while (!room) {
      std::this_thread::yield();
    }
    std::string chunk(static_cast<std::size_t>(i % 13 + 1), static_cast<char>('a' + i % 26));
    expected += chunk;
    room = false;
    if (channel.Push(chunk)) {
      room = true;
    }
  }
  channel.Finish();
  reader.join();
  CHECK(got == expected);
}

TEST_CASE("BodyChannel: failures reach the reader after the bytes before them", "[body_stream]") {
  BodyChannel channel(5s);
  channel.Push("xy");
  channel.Fail(BodyErrc::file_too_large);
  iot::Result<std::size_t> last = std::size_t{0};
  CHECK(ReadAll(channel, &last) == "xy");
  REQUIRE_FALSE(last);
  CHECK(last.error() == boost::system::errc::file_too_large);
}

TEST_CASE("BodyChannel: a silent producer times the reader out, and an abandoned channel drops bytes",
          "[body_stream]") {
  BodyChannel silent(30ms);
  char buffer[4];
  auto n = silent.Read(buffer, sizeof buffer);
  REQUIRE_FALSE(n);
  CHECK(n.error() == boost::system::errc::timed_out);
  CHECK(silent.Abandoned());

  BodyChannel channel(5s, 1);
  std::atomic<int> resumed{0};
  channel.SetResume([&] { resumed.fetch_add(1); });
  CHECK_FALSE(channel.Push("full"));
  channel.Abandon();
  CHECK(resumed == 1);             // a paused producer goes on (to discard the rest)
  CHECK(channel.Push("dropped"));  // never pauses again
  n = channel.Read(buffer, sizeof buffer);
  REQUIRE_FALSE(n);
  CHECK(n.error() == boost::system::errc::connection_aborted);
}

TEST_CASE("IsStreamedBodyTarget: only POST of a product's firmwares", "[body_stream]") {
  using iot::api::IsStreamedBodyTarget;
  CHECK(IsStreamedBodyTarget("POST", "/api/v1/products/a1B2c3/firmwares"));
  CHECK(IsStreamedBodyTarget("POST", "/api/v1/products/a1B2c3/firmwares?version=1.0&module=m"));
  CHECK_FALSE(IsStreamedBodyTarget("GET", "/api/v1/products/a1B2c3/firmwares"));
  CHECK_FALSE(IsStreamedBodyTarget("POST", "/api/v1/products/a1B2c3/firmwares/x/jobs"));
  CHECK_FALSE(IsStreamedBodyTarget("POST", "/api/v1/products/a/b/firmwares"));
  CHECK_FALSE(IsStreamedBodyTarget("POST", "/api/v1/products//firmwares"));
  CHECK_FALSE(IsStreamedBodyTarget("POST", "/api/v1/products/a1B2c3/devices"));
}

TEST_CASE("ParseRange: single byte ranges, suffixes, unsatisfiable and ignored forms", "[body_stream]") {
  ByteRange r;
  CHECK(ParseRange("", 100, r) == RangeKind::kWhole);
  CHECK(ParseRange("bytes=10-19", 100, r) == RangeKind::kPart);
  CHECK((r.first == 10 && r.length == 10));
  CHECK(ParseRange("bytes=90-", 100, r) == RangeKind::kPart);
  CHECK((r.first == 90 && r.length == 10));
  CHECK(ParseRange("bytes=95-1000", 100, r) == RangeKind::kPart);
  CHECK((r.first == 95 && r.length == 5));
  CHECK(ParseRange("bytes=-30", 100, r) == RangeKind::kPart);
  CHECK((r.first == 70 && r.length == 30));
  CHECK(ParseRange("bytes=-300", 100, r) == RangeKind::kPart);
  CHECK((r.first == 0 && r.length == 100));
  CHECK(ParseRange("bytes=100-", 100, r) == RangeKind::kUnsatisfiable);
  CHECK(ParseRange("bytes=-0", 100, r) == RangeKind::kUnsatisfiable);
  CHECK(ParseRange("bytes=0-", 0, r) == RangeKind::kUnsatisfiable);
  for (const char* ignored : {"bytes=1-2,5-6", "items=1-2", "bytes=5-1", "bytes=a-b", "bytes=1", "bytes=-",
                              "bytes= 1-2", "bytes=99999999999999999999999-"}) {
    INFO(ignored);
    CHECK(ParseRange(ignored, 100, r) == RangeKind::kWhole);
  }
}

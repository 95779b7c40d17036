#include "pending.hpp"

#include <catch2/catch.hpp>

using iot::device::Clock;
using iot::device::PendingRequest;
using iot::device::PendingSettings;
using iot::device::PendingTable;
using iot::device::Send;
using namespace std::chrono_literals;

namespace {

PendingRequest Request(const std::string& id) {
  PendingRequest r;
  r.key = id;
  r.topic = "/sys/pk01/dn01/thing/event/property/post";
  r.reply_topic = r.topic + "_reply";
  r.payload = "{\"id\":\"" + id + "\"}";
  return r;
}

struct Fixture {
  explicit Fixture(PendingSettings s = {4, 1000ms, 3, 10000ms}) : table(s) {}
  PendingTable table;
  Clock::time_point t0 = Clock::now();
  std::vector<Send> sends;
  std::vector<PendingRequest> expired;
  void Due(std::chrono::milliseconds at, bool connected = true) {
    sends.clear();
    expired.clear();
    table.Due(t0 + at, connected, sends, expired);
  }
};

}  // namespace

TEST_CASE("Pending: a new request is sent once and completed by its reply", "[device][pending]") {
  Fixture f;
  REQUIRE(f.table.Add(Request("1"), f.t0));
  f.Due(0ms);
  REQUIRE(f.sends.size() == 1);
  CHECK(f.sends[0].attempt == 1);
  f.Due(500ms);
  CHECK(f.sends.empty());  // waiting for the reply
  auto done = f.table.Complete("1", "/sys/pk01/dn01/thing/event/property/post_reply");
  REQUIRE(done);
  CHECK(done->attempts == 1);
  CHECK(f.table.size() == 0);
}

TEST_CASE("Pending: no reply in time means a resend of the same bytes - then timed out",
          "[device][pending]") {
  Fixture f;
  REQUIRE(f.table.Add(Request("7"), f.t0));
  f.Due(0ms);
  const std::string first = f.sends.at(0).payload;
  f.Due(1000ms);
  REQUIRE(f.sends.size() == 1);
  CHECK(f.sends[0].attempt == 2);
  CHECK(f.sends[0].payload == first);
  CHECK(f.sends[0].key == "7");
  f.Due(2000ms);
  REQUIRE(f.sends.size() == 1);
  CHECK(f.sends[0].attempt == 3);
  f.Due(3000ms);
  CHECK(f.sends.empty());
  REQUIRE(f.expired.size() == 1);
  CHECK(f.expired[0].attempts == 3);
  CHECK(f.table.size() == 0);
}

TEST_CASE("Pending: replies on another topic or for unknown ids are ignored", "[device][pending]") {
  Fixture f;
  REQUIRE(f.table.Add(Request("1"), f.t0));
  CHECK_FALSE(f.table.Complete("1", "/sys/pk01/dn01/thing/event/property/post_reply"));  // not sent yet
  f.Due(0ms);
  CHECK_FALSE(f.table.Complete("1", "/sys/pk01/dn01/thing/event/Alarm/post_reply"));
  CHECK_FALSE(f.table.Complete("2", "/sys/pk01/dn01/thing/event/property/post_reply"));
  CHECK(f.table.size() == 1);
}

TEST_CASE("Pending: the window bounds requests in flight", "[device][pending]") {
  Fixture f;
  for (int i = 0; i < 4; ++i) {
    CHECK(f.table.Add(Request(std::to_string(i)), f.t0));
  }
  CHECK(f.table.Full());
  CHECK_FALSE(f.table.Add(Request("4"), f.t0));
  CHECK_FALSE(f.table.Add(Request("0"), f.t0));
  f.Due(0ms);
  CHECK(f.sends.size() == 4);
  REQUIRE(f.table.Complete("2", "/sys/pk01/dn01/thing/event/property/post_reply"));
  CHECK(f.table.Add(Request("4"), f.t0));
}

TEST_CASE("Pending: nothing is sent while disconnected - all is resent once back", "[device][pending]") {
  Fixture f;
  REQUIRE(f.table.Add(Request("1"), f.t0));
  REQUIRE(f.table.Add(Request("2"), f.t0));
  f.Due(0ms, false);
  CHECK(f.sends.empty());
  f.Due(10ms);
  REQUIRE(f.sends.size() == 2);
  CHECK(f.sends[0].key == "1");  // in the order posted
  CHECK(f.sends[1].key == "2");
  f.table.ConnectionLost();
  f.Due(20ms, false);
  CHECK(f.sends.empty());
  f.Due(30ms);
  CHECK(f.sends.size() == 2);
  CHECK(f.sends[0].attempt == 2);
}

TEST_CASE("Pending: the deadline ends a request even while disconnected", "[device][pending]") {
  Fixture f(PendingSettings{4, 1000ms, 100, 5000ms});
  REQUIRE(f.table.Add(Request("1"), f.t0));
  f.Due(4999ms, false);
  CHECK(f.expired.empty());
  f.Due(5000ms, false);
  CHECK(f.expired.size() == 1);
}

TEST_CASE("Pending: a failed publish does not count as an attempt", "[device][pending]") {
  Fixture f;
  REQUIRE(f.table.Add(Request("1"), f.t0));
  f.Due(0ms);
  f.table.Unsent("1");
  f.Due(1ms);
  REQUIRE(f.sends.size() == 1);
  CHECK(f.sends[0].attempt == 1);
}

TEST_CASE("Pending: TakeAll empties the table in order", "[device][pending]") {
  Fixture f;
  REQUIRE(f.table.Add(Request("a"), f.t0));
  REQUIRE(f.table.Add(Request("b"), f.t0));
  auto all = f.table.TakeAll();
  REQUIRE(all.size() == 2);
  CHECK(all[0].key == "a");
  CHECK(f.table.size() == 0);
  CHECK_FALSE(f.table.NextEvent());
}

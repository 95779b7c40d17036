#include "stream/client.hpp"

#include <catch2/catch.hpp>

using iot::api::Principal;
using iot::api::stream::Client;
using iot::api::stream::Message;
using iot::api::stream::QueueLimits;

namespace {

Message Msg(std::string text) { return std::make_shared<const std::string>(std::move(text)); }

}  // namespace

TEST_CASE("Stream client: wakes once until the queue is found empty", "[stream][client]") {
  Client client(1, Principal{"t", iot::api::Role::kViewer}, QueueLimits{});
  int wakes = 0;
  client.SetWake([&] { ++wakes; });
  CHECK(client.Push(Msg("a")));
  CHECK(client.Push(Msg("b")));
  CHECK(wakes == 1);
  CHECK(*client.Pop().value() == "a");
  CHECK(*client.Pop().value() == "b");
  CHECK_FALSE(client.Pop().has_value());
  CHECK(client.Push(Msg("c")));
  CHECK(wakes == 2);
}

TEST_CASE("Stream client: overflows by message count and drops its queue", "[stream][client]") {
  Client client(1, Principal{}, QueueLimits{.max_messages = 3, .max_bytes = 1 << 20});
  int wakes = 0;
  client.SetWake([&] { ++wakes; });
  for (int i = 0; i < 3; ++i) {
    CHECK(client.Push(Msg("x")));
  }
  CHECK_FALSE(client.Overflowed());
  CHECK_FALSE(client.Push(Msg("x")));
  CHECK(client.Overflowed());
  CHECK(wakes == 2);  // the overflow wakes the transport even though a wake was pending
  CHECK_FALSE(client.Pop().has_value());
  CHECK_FALSE(client.Push(Msg("y")));
}

TEST_CASE("Stream client: overflows by bytes", "[stream][client]") {
  Client client(1, Principal{}, QueueLimits{.max_messages = 100, .max_bytes = 10});
  CHECK(client.Push(Msg("12345")));
  CHECK(client.Push(Msg("12345")));
  CHECK_FALSE(client.Push(Msg("1")));
  CHECK(client.Overflowed());
}

TEST_CASE("Stream client: popped messages free their room", "[stream][client]") {
  Client client(1, Principal{}, QueueLimits{.max_messages = 2, .max_bytes = 1 << 20});
  for (int i = 0; i < 100; ++i) {
    REQUIRE(client.Push(Msg("m")));
    REQUIRE(client.Pop().has_value());
  }
  CHECK_FALSE(client.Overflowed());
}

TEST_CASE("Stream client: a closed client accepts nothing", "[stream][client]") {
  Client client(1, Principal{}, QueueLimits{});
  client.Close();
  CHECK(client.Closed());
  CHECK_FALSE(client.Push(Msg("a")));
  CHECK_FALSE(client.Pop().has_value());
  CHECK_FALSE(client.Overflowed());
}

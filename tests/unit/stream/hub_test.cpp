#include "stream/hub.hpp"

#include <thread>
#include <vector>

#include <catch2/catch.hpp>

using iot::api::Principal;
using iot::api::stream::Client;
using iot::api::stream::Hub;
using iot::api::stream::QueueLimits;

namespace {

std::shared_ptr<Client> NewClient(std::uint64_t id, QueueLimits limits = {}) {
  return std::make_shared<Client>(id, Principal{"t", iot::api::Role::kViewer}, limits);
}

std::vector<std::string> Drain(Client& c) {
  std::vector<std::string> out;
  while (auto m = c.Pop()) {
    out.push_back(**m);
  }
  return out;
}

}  // namespace

TEST_CASE("Stream hub: delivers by product and by device only to subscribers", "[stream][hub]") {
  Hub hub;
  auto whole = NewClient(1);
  auto one = NewClient(2);
  auto other = NewClient(3);
  REQUIRE(hub.Subscribe(whole, {"pkA", ""}, 10) == Hub::AddResult::kAdded);
  REQUIRE(hub.Subscribe(one, {"pkA", "dev1"}, 10) == Hub::AddResult::kAdded);
  REQUIRE(hub.Subscribe(other, {"pkB", ""}, 10) == Hub::AddResult::kAdded);

  int builds = 0;
  auto build = [&] {
    ++builds;
    return std::string("m") + std::to_string(builds);
  };
  CHECK(hub.Publish("pkA", "dev1", build) == 2);
  CHECK(hub.Publish("pkA", "dev2", build) == 1);
  CHECK(hub.Publish("pkC", "dev1", build) == 0);
  CHECK(builds == 2);  // built once per change, never for nobody

  CHECK(Drain(*whole) == std::vector<std::string>{"m1", "m2"});
  CHECK(Drain(*one) == std::vector<std::string>{"m1"});
  CHECK(Drain(*other).empty());
}

TEST_CASE("Stream hub: a client subscribed to product and device gets one copy", "[stream][hub]") {
  Hub hub;
  auto c = NewClient(1);
  REQUIRE(hub.Subscribe(c, {"pkA", ""}, 10) == Hub::AddResult::kAdded);
  REQUIRE(hub.Subscribe(c, {"pkA", "dev1"}, 10) == Hub::AddResult::kAdded);
  CHECK(hub.Publish("pkA", "dev1", [] { return std::string("x"); }) == 1);
  CHECK(Drain(*c).size() == 1);
}

TEST_CASE("Stream hub: unsubscribe, duplicates, limits and removal", "[stream][hub]") {
  Hub hub;
  auto c = NewClient(1);
  CHECK(hub.Subscribe(c, {"pkA", ""}, 2) == Hub::AddResult::kAdded);
  CHECK(hub.Subscribe(c, {"pkA", ""}, 2) == Hub::AddResult::kAlreadySubscribed);
  CHECK(hub.Subscribe(c, {"pkB", ""}, 2) == Hub::AddResult::kAdded);
  CHECK(hub.Subscribe(c, {"pkC", ""}, 2) == Hub::AddResult::kTooMany);
  CHECK(hub.SubscriptionCount() == 2);
  CHECK(hub.Unsubscribe(c, {"pkA", ""}));
  CHECK_FALSE(hub.Unsubscribe(c, {"pkA", ""}));
  CHECK_FALSE(hub.WantsProduct("pkA"));
  CHECK(hub.WantsProduct("pkB"));
  CHECK(hub.Publish("pkA", "d", [] { return std::string("x"); }) == 0);
  hub.Remove(c);
  CHECK_FALSE(hub.Any());
  CHECK(c->Subscriptions().empty());
}

TEST_CASE("Stream hub: a closed client cannot subscribe", "[stream][hub]") {
  Hub hub;
  auto c = NewClient(1);
  c->Close();
  CHECK(hub.Subscribe(c, {"pkA", ""}, 10) == Hub::AddResult::kClosed);
  CHECK_FALSE(hub.Any());
}

TEST_CASE("Stream hub: a slow client overflows without holding back the others", "[stream][hub]") {
  Hub hub;
  auto slow = NewClient(1, QueueLimits{.max_messages = 5, .max_bytes = 1 << 20});
  auto fast = NewClient(2, QueueLimits{.max_messages = 5, .max_bytes = 1 << 20});
  REQUIRE(hub.Subscribe(slow, {"pk", ""}, 10) == Hub::AddResult::kAdded);
  REQUIRE(hub.Subscribe(fast, {"pk", ""}, 10) == Hub::AddResult::kAdded);
  std::vector<std::string> got;
  for (int i = 0; i < 20; ++i) {
    hub.Publish("pk", "d", [i] { return std::to_string(i); });
    auto m = fast->Pop();
    REQUIRE(m.has_value());
    got.push_back(**m);
  }
  CHECK(slow->Overflowed());
  CHECK_FALSE(fast->Overflowed());
  CHECK(got.front() == "0");
  CHECK(got.back() == "19");
}

TEST_CASE("Stream hub: per-device order holds with concurrent subscribers", "[stream][hub]") {
  Hub hub;
  auto reader = NewClient(1, QueueLimits{.max_messages = 100000, .max_bytes = 1 << 26});
  REQUIRE(hub.Subscribe(reader, {"pk", ""}, 10) == Hub::AddResult::kAdded);
  std::thread churn([&] {
    for (int i = 0; i < 2000; ++i) {
      auto c = NewClient(100 + i);
      hub.Subscribe(c, {"pk", "d1"}, 10);
      hub.Remove(c);
    }
  });
  for (int i = 0; i < 5000; ++i) {
    hub.Publish("pk", i % 2 ? "d1" : "d2", [i] { return std::to_string(i); });
  }
  churn.join();
  int last_d1 = -1, last_d2 = -1;
  std::size_t n = 0;
  while (auto m = reader->Pop()) {
    const int v = std::stoi(**m);
    int& last = v % 2 ? last_d1 : last_d2;
    CHECK(v > last);
    last = v;
    ++n;
  }
  CHECK(n == 5000);
}

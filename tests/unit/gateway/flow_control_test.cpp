#include "flow_control.hpp"

#include <catch2/catch.hpp>

#include "bounded_queue.hpp"

using iot::gateway::FlowControl;

TEST_CASE("FlowControl: pauses at the high-water mark - resumes at the low-water mark", "[gateway][flow]") {
  FlowControl flow(100, 20);
  CHECK(flow.Update(50) == FlowControl::Action::kNone);
  CHECK(flow.Update(100) == FlowControl::Action::kPause);
  CHECK(flow.Paused());
  CHECK(flow.Update(150) == FlowControl::Action::kNone);  // once per transition
  CHECK(flow.Update(50) == FlowControl::Action::kNone);   // hysteresis
  CHECK(flow.Update(20) == FlowControl::Action::kResume);
  CHECK_FALSE(flow.Paused());
  CHECK(flow.Update(99) == FlowControl::Action::kNone);
  CHECK(flow.Update(101) == FlowControl::Action::kPause);
  CHECK(flow.Pauses() == 2);
}

TEST_CASE("BoundedQueue: ForcePush never blocks nor drops: Push blocks when full", "[gateway][flow]") {
  iot::gateway::BoundedQueue<int> q(2);
  q.ForcePush(1);
  q.ForcePush(2);
  CHECK(q.ForcePush(3) == 3);  // above capacity: kept
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.Push(4);
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(pushed.load());
  CHECK(q.Pop(std::chrono::milliseconds(10)) == 1);
  CHECK(q.Pop(std::chrono::milliseconds(10)) == 2);
  producer.join();
  CHECK(pushed.load());
  std::vector<int> rest;
  q.PopMany(rest, 10);
  CHECK(rest == std::vector<int>{3, 4});
  q.Close();
  CHECK_FALSE(q.Push(5));
  CHECK_FALSE(q.Pop(std::chrono::milliseconds(1)));
}

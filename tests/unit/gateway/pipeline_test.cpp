#include "pipeline.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fakes.hpp"
#include "iot/common/clock.hpp"

using nlohmann::json;
namespace gw = iot::gateway;
namespace t = iot::gateway::testing;

namespace {

bool PollUntil(const std::function<bool()>& f, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return f();
}

struct Fixture {
  explicit Fixture(gw::PipelineSettings settings = {}) {
    t::AddReferenceProduct(source, iot::tsl::Mode::kWeak);
    for (int d = 0; d < 8; ++d) {
      source.devices["a1Prod/d" + std::to_string(d) + "xx"] = gw::DeviceEntry{100 + d, true};
    }
    settings.retry_min = std::chrono::milliseconds(5);
    settings.retry_max = std::chrono::milliseconds(20);
    gw::HandlerSettings h;
    h.rate_per_second = 0;
    pipeline = std::make_unique<gw::Pipeline>(settings, h, directory, backend, publisher, metrics);
    pipeline->Start();
  }
  ~Fixture() { pipeline->Stop(std::chrono::seconds(5)); }
  void Post(int device, int seq) {
    const std::string dn = "d" + std::to_string(device) + "xx";
    json msg = {{"id", std::to_string(seq)},
                {"params", {{"RunCount", seq}}},
                {"method", "thing.event.property.post"}};
    pipeline->Submit(
        gw::InboundMessage{"/sys/a1Prod/" + dn + "/thing/event/property/post", msg.dump(), iot::NowMs()});
  }
  t::FakeSource source;
  gw::CachingDirectory directory{source, gw::CacheSettings{}};
  t::FakeBackend backend;
  t::FakePublisher publisher;
  gw::Metrics metrics;
  std::unique_ptr<gw::Pipeline> pipeline;
};

}  // namespace

TEST_CASE("Pipeline: batches commit many messages - replies follow in per-device order",
          "[gateway][pipeline]") {
  gw::PipelineSettings s;
  s.batch_max = 64;
  s.batch_delay = std::chrono::milliseconds(20);
  Fixture f(s);
  constexpr int kPerDevice = 250;
  for (int i = 0; i < kPerDevice; ++i) {
    for (int d = 0; d < 8; ++d) {
      f.Post(d, i);
    }
  }
  REQUIRE(PollUntil([&] { return f.publisher.Count() == 8 * kPerDevice; }));
  CHECK(f.backend.MessageCount() == 8 * kPerDevice);
  CHECK(f.pipeline->Held() == 0);
  std::lock_guard lock(f.backend.mutex);
  for (const auto& b : f.backend.batches) {
    CHECK(b.size() <= 64);
  }
  CHECK(f.backend.batches.size() < 8 * kPerDevice / 4);  // really batched
  // Per device, replies carry increasing ids.
  std::map<std::string, int> last;
  std::lock_guard lock2(f.publisher.mutex);
  for (const auto& [topic, payload] : f.publisher.published) {
    int id = std::stoi(json::parse(payload)["id"].get<std::string>());
    auto it = last.find(topic);
    if (it != last.end()) {
      CHECK(id == it->second + 1);
    }
    last[topic] = id;
  }
  CHECK(last.size() == 8);
}

TEST_CASE("Pipeline: no reply before the commit: PostgreSQL away means retry - never drop",
          "[gateway][pipeline]") {
  Fixture f;
  {
    std::lock_guard lock(f.backend.mutex);
    f.backend.fail_next_writes = 5;
  }
  f.Post(0, 1);
  REQUIRE(PollUntil([&] {
    std::lock_guard lock(f.backend.mutex);
    return f.backend.write_calls >= 3;
  }));
  CHECK(f.publisher.Count() == 0);  // not committed yet: not answered
  CHECK(f.pipeline->Held() == 1);
  REQUIRE(PollUntil([&] { return f.publisher.Count() == 1; }));
  CHECK(f.backend.MessageCount() == 1);
  CHECK(f.metrics.db_retries.load() >= 5);
  std::lock_guard lock(f.publisher.mutex);
  CHECK(json::parse(f.publisher.published[0].second)["code"] == 200);
}

TEST_CASE("Pipeline: a redelivered message is stored once and answered again", "[gateway][pipeline]") {
  Fixture f;
  f.Post(1, 7);
  REQUIRE(PollUntil([&] { return f.publisher.Count() == 1; }));
  f.Post(1, 7);
  REQUIRE(PollUntil([&] { return f.publisher.Count() == 2; }));
  CHECK(f.metrics.duplicates.load() == 1);
  std::lock_guard lock(f.publisher.mutex);
  CHECK(f.publisher.published[0].second == f.publisher.published[1].second);
}

TEST_CASE("Pipeline: side effects run after the batch commit and fill desired values",
          "[gateway][pipeline]") {
  Fixture f;
  f.pipeline->Submit(gw::InboundMessage{"/sys/a1Prod/dev1/thing/property/desired/get",
                                        R"({"id":"d1","params":["PowerOn"]})", iot::NowMs()});
  REQUIRE(PollUntil([&] { return f.publisher.Count() == 1; }));
  std::lock_guard lock(f.publisher.mutex);
  json reply = json::parse(f.publisher.published[0].second);
  CHECK(reply["data"] == json::parse(R"({"PowerOn":{"value":1,"version":2}})"));  // asked for, stored
  CHECK(reply["id"] == "d1");
}

TEST_CASE("Pipeline: shard of a topic is the device's", "[gateway][pipeline]") {
  const auto a = gw::Pipeline::ShardOf("/sys/pk1/dn1/thing/event/property/post", 7);
  CHECK(gw::Pipeline::ShardOf("/sys/pk1/dn1/thing/event/Alarm/post", 7) == a);
  CHECK(gw::Pipeline::ShardOf("/ext/ntp/pk1/dn1/request", 7) == a);
  CHECK(gw::Pipeline::ShardOf("/as/mqtt/status/pk1/dn1", 7) == a);
  CHECK(gw::Pipeline::ShardOf("/shadow/update/pk1/dn1", 7) == a);
  CHECK(gw::Pipeline::ShardOf("/ota/device/inform/pk1/dn1", 7) == a);
  CHECK(gw::Pipeline::ShardOf("/ext/session/pk1/dn1/combine/login", 7) == a);
}

TEST_CASE("Pipeline: stop drains held messages", "[gateway][pipeline]") {
  auto f = std::make_unique<Fixture>();
  for (int i = 0; i < 100; ++i) {
    f->Post(i % 8, i);
  }
  f->pipeline->Stop(std::chrono::seconds(5));
  CHECK(f->publisher.Count() == 100);
  CHECK(f->pipeline->Held() == 0);
}

TEST_CASE("Pipeline: several writers keep per-device order and share the load", "[gateway][pipeline]") {
  t::FakeSource source;
  t::AddReferenceProduct(source, iot::tsl::Mode::kWeak);
  for (int d = 0; d < 16; ++d) {
    source.devices["a1Prod/d" + std::to_string(d) + "xx"] = gw::DeviceEntry{100 + d, true};
  }
  gw::CachingDirectory directory(source, gw::CacheSettings{});
  t::FakeBackend a, b;
  t::FakePublisher publisher;
  gw::Metrics metrics;
  gw::PipelineSettings settings;
  settings.workers = 4;
  settings.batch_max = 32;
  gw::HandlerSettings h;
  h.rate_per_second = 0;
  gw::Pipeline pipeline(settings, h, directory, std::vector<gw::Backend*>{&a, &b}, publisher, metrics);
  pipeline.Start();
  for (int i = 0; i < 200; ++i) {
    for (int d = 0; d < 16; ++d) {
      json msg = {{"id", std::to_string(i)}, {"params", {{"RunCount", i}}}};
      pipeline.Submit(gw::InboundMessage{"/sys/a1Prod/d" + std::to_string(d) + "xx/thing/event/property/post",
                                         msg.dump(), iot::NowMs()});
    }
  }
  REQUIRE(PollUntil([&] { return publisher.Count() == 16 * 200; }));
  pipeline.Stop();
  CHECK(a.MessageCount() + b.MessageCount() == 16 * 200);
  CHECK(a.MessageCount() > 0);
  CHECK(b.MessageCount() > 0);
  std::map<std::string, int> last;
  for (const auto& [topic, payload] : publisher.published) {
    int id = std::stoi(json::parse(payload)["id"].get<std::string>());
    auto it = last.find(topic);
    if (it != last.end()) {
      CHECK(id == it->second + 1);
    }
    last[topic] = id;
  }
}

TEST_CASE("Pipeline: a connect storm's lifecycle events are applied per batch, in order",
          "[gateway][pipeline]") {
  gw::PipelineSettings s;
  s.workers = 1;
  s.batch_delay = std::chrono::milliseconds(50);
  Fixture f(s);
  constexpr int kEvents = 200;  // 8 devices coming and going
  for (int i = 1; i <= kEvents; ++i) {
    const std::string dn = "d" + std::to_string(i % 8) + "xx";
    json status = {{"status", i % 2 ? "online" : "offline"},
                   {"productKey", "a1Prod"},
                   {"deviceName", dn},
                   {"time", "2023-11-14 22:13:20.000"},
                   {"utcTime", "2023-11-14T22:13:20.000Z"},
                   {"lastTime", "2023-11-14 22:13:20.000"},
                   {"utcLastTime", "2023-11-14T22:13:20.000Z"},
                   {"clientIp", "10.0.0.1"},
                   {"seq", i}};
    f.pipeline->Submit(gw::InboundMessage{"/as/mqtt/status/a1Prod/" + dn, status.dump(), iot::NowMs()});
  }
  f.Post(0, 1);  // a post behind them is answered as usual
  REQUIRE(PollUntil([&] { return f.publisher.Count() == 1 && f.pipeline->Held() == 0; }));
  std::lock_guard lock(f.backend.mutex);
  REQUIRE(f.backend.ops.size() == kEvents);
  CHECK(f.backend.lifecycle_calls < kEvents / 4);  // batched: not one transaction per event
  for (int i = 0; i < kEvents; ++i) {
    const auto& event = std::get<gw::LifecycleOp>(f.backend.ops[static_cast<std::size_t>(i)]).event;
    CHECK(event.sequence == i + 1);
    CHECK(event.device_id == 100 + (i + 1) % 8);
    CHECK(event.online == ((i + 1) % 2 == 1));
  }
}

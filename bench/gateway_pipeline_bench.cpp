// iot-gateway pipeline without the broker: decode -> validate -> batch write -> reply, CPU per post.
//   BM_HandlePost          one shard worker's work per post (topic parse, envelope decode, directory
//                          hit, TSL validation in weak mode, TelemetryMessage built)
//   BM_DirectoryHit/0|1    the directory's device + product lookup of every message from 1-4 threads:
//                          the directory before libs/catalog (0) and the current one (1)
//   BM_PipelineFakeStore   the whole threaded pipeline (queues, shard workers, batch writer, reply
//                          encoding) with a store that does nothing: the gateway's own CPU per post
//   BM_PipelineStore       the same with the real TelemetryWriter against PostgreSQL (IOT_BENCH_PG_DSN)
//   BM_ReplyPublish/qos    the reply path: Paho C++ publish of one Alink reply at QoS 0 or 1 through a
//                          broker (IOT_BENCH_MQTT_URI, e.g. tcp://127.0.0.1:18830 of a plain mosquitto)
//   BM_ReplyPublishLean/qos  the same through the gateway's own client (libs/mqtt_client)
// See docs/BENCHMARKS.md "services/gateway: pipeline".
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>
#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>

#include "directory.hpp"
#include "handler.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/common/clock.hpp"
#include "iot/mqtt/client.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "pipeline.hpp"
#include "store_backend.hpp"

namespace {

namespace gw = iot::gateway;
constexpr int kDevices = 1000;

std::string ReadTsl() {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/tsl/valid/reference_example.json");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A ~170-byte property post with 5 properties, as the simulator sends.
std::string Payload(int seq) {
  return R"({"id":")" + std::to_string(seq) +
         R"(","version":"1.0","params":{"PowerOn":1,"TargetTemp":21.5,"Humidity":48.25,"RunCount":)" +
         std::to_string(seq) + R"(,"FanLevel":2},"method":"thing.event.property.post"})";
}

class MemorySource final : public gw::DirectorySource {
 public:
  explicit MemorySource(std::vector<std::int64_t> ids) : ids_(std::move(ids)) {}
  iot::Result<gw::DeviceEntry> LoadDevice(std::string_view, std::string_view dn) override {
    const int i = std::stoi(std::string(dn.substr(3))) - 1000;
    return gw::DeviceEntry{ids_[static_cast<std::size_t>(i) % ids_.size()], true};
  }
  iot::Result<gw::ProductEntry> LoadProduct(std::string_view pk) override {
    gw::ProductEntry p;
    p.product_key = std::string(pk);
    p.mode = iot::tsl::Mode::kWeak;
    p.version = 1;
    p.tsl_json = ReadTsl();
    return p;
  }
  iot::Result<std::string> LoadUrlSigningKey() override { return std::string(32, 'k'); }

 private:
  std::vector<std::int64_t> ids_;
};

class NullBackend final : public gw::Backend {
 public:
  iot::Result<std::vector<iot::store::MessageResult>> WriteTelemetry(
      std::span<const iot::store::TelemetryMessage> batch) override {
    return std::vector<iot::store::MessageResult>(batch.size());
  }
  gw::OpStatus Execute(const gw::Op&, gw::OpResult&) override { return gw::OpStatus::kDone; }
  gw::OpStatus ApplyLifecycles(std::span<const iot::store::LifecycleEvent>) override {
    return gw::OpStatus::kDone;
  }
};

class CountingPublisher final : public gw::Publisher {
 public:
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> bytes{0};
  bool Publish(const std::string&, const std::string& payload) override {
    bytes += payload.size();
    ++count;
    return true;
  }
};

std::vector<std::string> Topics(const std::string& pk) {
  std::vector<std::string> topics;
  for (int d = 0; d < kDevices; ++d) {
    topics.push_back("/sys/" + pk + "/dev" + std::to_string(1000 + d) + "/thing/event/property/post");
  }
  return topics;
}

void BM_HandlePost(benchmark::State& state) {
  std::vector<std::int64_t> ids(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    ids[static_cast<std::size_t>(i)] = i + 1;
  }
  MemorySource source(ids);
  gw::CachingDirectory directory(source, gw::CacheSettings{});
  gw::Metrics metrics;
  gw::HandlerSettings settings;
  settings.rate_per_second = 0;
  gw::Handler handler(directory, metrics, settings);
  const auto topics = Topics("a1Bench0001");
  std::vector<std::string> payloads;
  for (int i = 0; i < 1024; ++i) {
    payloads.push_back(Payload(i));
  }
  gw::Work work;
  std::size_t n = 0;
  for (auto _ : state) {
    gw::InboundMessage in{topics[n % kDevices], payloads[n % payloads.size()], 1'700'000'000'000};
    handler.Handle(in, 1'700'000'000'000, work);
    benchmark::DoNotOptimize(work);
    ++n;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(n));
}
BENCHMARK(BM_HandlePost);

// The directory as it was before products moved to libs/catalog (git edb1451 directory.cpp, trimmed to
// the warm path): devices and products behind one mutex, the product key copied per lookup. The
// baseline BM_DirectoryHit compares the current CachingDirectory with, in the same run.
class BaselineDirectory {
 public:
  explicit BaselineDirectory(gw::DirectorySource& source) : source_(source) {}
  iot::Result<gw::DeviceEntry> FindDevice(std::string_view pk, std::string_view dn) {
    std::string key;
    key.reserve(pk.size() + dn.size() + 1);
    key.append(pk).append("/").append(dn);
    const std::int64_t now = Now();
    std::lock_guard lock(mutex_);
    if (auto it = devices_.find(key); it != devices_.end() && now - it->second.second < kTtlMs) {
      return it->second.first;
    }
    auto loaded = source_.LoadDevice(pk, dn);
    if (loaded) {
      devices_[key] = {*loaded, now};
    }
    return loaded;
  }
  iot::Result<std::shared_ptr<const gw::ProductEntry>> FindProduct(std::string_view pk) {
    const std::int64_t now = Now();
    std::lock_guard lock(mutex_);
    std::string key(pk);
    if (auto it = products_.find(key); it != products_.end() && now - it->second.second < kTtlMs) {
      return it->second.first;
    }
    auto loaded = source_.LoadProduct(pk);
    if (!loaded) {
      return loaded.error();
    }
    auto entry = std::make_shared<gw::ProductEntry>(std::move(*loaded));
    iot::catalog::ParseModel(*entry);
    std::shared_ptr<const gw::ProductEntry> shared = entry;
    products_[key] = {shared, now};
    return shared;
  }

 private:
  static constexpr std::int64_t kTtlMs = 60000;
  static std::int64_t Now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  gw::DirectorySource& source_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::pair<gw::DeviceEntry, std::int64_t>> devices_;
  std::unordered_map<std::string, std::pair<std::shared_ptr<const gw::ProductEntry>, std::int64_t>> products_;
};

// The per-message lookups alone on a warm cache (device, then its product) from 1, 2 and 4 threads
// sharing one directory as the shard workers do: the hot path's cost and lock contention.
// Arg 0: BaselineDirectory (before libs/catalog); Arg 1: gw::CachingDirectory.
template <class Directory>
void DirectoryHits(benchmark::State& state, Directory& directory) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int d = 0; d < kDevices; ++d) {
      v.push_back("dev" + std::to_string(1000 + d));
    }
    return v;
  }();
  std::size_t n = static_cast<std::size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    auto device = directory.FindDevice("a1Bench0001", names[n % kDevices]);
    auto product = directory.FindProduct("a1Bench0001");
    benchmark::DoNotOptimize(device);
    benchmark::DoNotOptimize(product);
    ++n;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_DirectoryHit(benchmark::State& state) {
  static std::vector<std::int64_t> ids = [] {
    std::vector<std::int64_t> v(kDevices);
    for (int i = 0; i < kDevices; ++i) {
      v[static_cast<std::size_t>(i)] = i + 1;
    }
    return v;
  }();
  static MemorySource source(ids);
  static BaselineDirectory baseline(source);
  static gw::CachingDirectory current(source, gw::CacheSettings{});
  if (state.range(0) == 0) {
    DirectoryHits(state, baseline);
  } else {
    DirectoryHits(state, current);
  }
}
BENCHMARK(BM_DirectoryHit)->Arg(0)->Arg(1)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

// Pushes `posts` through a running pipeline and waits for every reply.
void RunPipeline(benchmark::State& state, gw::Backend& backend, const std::vector<std::int64_t>& ids,
                 const std::string& pk) {
  MemorySource source(ids);
  gw::CachingDirectory directory(source, gw::CacheSettings{});
  gw::Metrics metrics;
  CountingPublisher publisher;
  gw::PipelineSettings settings;
  settings.batch_max = static_cast<std::size_t>(state.range(0));
  gw::HandlerSettings handler;
  handler.rate_per_second = 0;
  gw::Pipeline pipeline(settings, handler, directory, backend, publisher, metrics);
  pipeline.Start();
  const auto topics = Topics(pk);
  constexpr int kPosts = 20000;
  // Messages made up front (unique ids, so the real store does not dedupe them away).
  static std::uint64_t seq = 0;
  std::vector<std::vector<gw::InboundMessage>> rounds;
  for (std::int64_t r = 0; r < state.max_iterations; ++r) {
    auto& round = rounds.emplace_back();
    round.reserve(kPosts);
    for (int i = 0; i < kPosts; ++i, ++seq) {
      round.push_back(
          gw::InboundMessage{topics[seq % kDevices], Payload(static_cast<int>(seq)), iot::NowMs()});
    }
  }
  std::uint64_t done = 0;
  std::size_t round = 0;
  for (auto _ : state) {
    for (auto& m : rounds[round]) {
      pipeline.Submit(std::move(m));
    }
    ++round;
    done += kPosts;
    while (publisher.count.load() < done) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  pipeline.Stop();
  state.SetItemsProcessed(static_cast<std::int64_t>(done));
  state.counters["batches"] = static_cast<double>(metrics.batches.load());
  state.counters["posts_per_batch"] =
      static_cast<double>(metrics.committed_messages.load()) / std::max<double>(1, metrics.batches.load());
}

void BM_PipelineFakeStore(benchmark::State& state) {
  std::vector<std::int64_t> ids(kDevices);
  for (int i = 0; i < kDevices; ++i) {
    ids[static_cast<std::size_t>(i)] = i + 1;
  }
  NullBackend backend;
  RunPipeline(state, backend, ids, "a1Bench0001");
}
BENCHMARK(BM_PipelineFakeStore)
    ->Arg(512)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

void BM_PipelineStore(benchmark::State& state) {
  const char* dsn = std::getenv("IOT_BENCH_PG_DSN");
  if (!dsn) {
    state.SkipWithError("IOT_BENCH_PG_DSN not set");
    return;
  }
  using namespace iot::store;
  static std::vector<std::int64_t> ids;
  static std::string pk;
  if (ids.empty()) {
    if (!Migrator(dsn).Migrate()) {
      std::abort();
    }
    Db db(DbSettings{.dsn = dsn});
    const auto now = iot::NowMs();
    (void)EnsurePartitions(db, now);
    pk = "gwb" + std::to_string(now % 100000000);
    (void)CreateProduct(db, ProductCreate{.product_key = pk, .name = "bench"});
    std::vector<DeviceCreate> req(kDevices);
    for (int i = 0; i < kDevices; ++i) {
      req[static_cast<std::size_t>(i)].device_name = "dev" + std::to_string(1000 + i);
    }
    for (const auto& d : CreateDevices(db, pk, req).value()) {
      ids.push_back(d.id);
    }
  }
  gw::StoreBackend backend(DbSettings{.dsn = dsn});
  RunPipeline(state, backend, ids, pk);
}
BENCHMARK(BM_PipelineStore)
    ->Arg(256)
    ->Arg(512)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

void BM_ReplyPublish(benchmark::State& state) {
  const char* uri = std::getenv("IOT_BENCH_MQTT_URI");
  if (!uri) {
    state.SkipWithError("IOT_BENCH_MQTT_URI not set");
    return;
  }
  const int qos = static_cast<int>(state.range(0));
  // The gateway's own create options (MqttIngress): a large command buffer.
  auto create =
      mqtt::create_options_builder().mqtt_version(MQTTVERSION_5).max_buffered_messages(200000).finalize();
  mqtt::async_client client(uri, "gw-bench-" + std::to_string(qos), create, nullptr);
  client.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).finalize())
      ->wait();
  const std::string payload = iot::alink::BuildReply("12345", 200, "thing.event.property.post");
  constexpr int kWindow = 50;  // outstanding QoS 1 publishes (Paho refuses more than it buffers)
  std::vector<mqtt::delivery_token_ptr> pending;
  std::int64_t n = 0;
  for (auto _ : state) {
    auto tok = client.publish("/sys/a1Bench0001/d1/thing/event/property/post_reply", payload.data(),
                              payload.size(), qos, false);
    if (qos > 0) {
      pending.push_back(tok);
      if (pending.size() >= kWindow) {
        // PUBACKs arrive in order: waiting for the newest covers the window. (Waiting on each token
        // of a window hung with Paho C++ 1.2 here: some middle tokens never signalled.)
        pending.back()->wait_for(std::chrono::seconds(5));
        pending.clear();
      }
    }
    if (++n == static_cast<std::int64_t>(state.max_iterations)) {  // timed: until all is out
      tok->wait_for(std::chrono::seconds(5));
      client.disconnect()->wait_for(std::chrono::seconds(5));
    }
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_ReplyPublish)->Arg(0)->Arg(1)->MeasureProcessCPUTime()->UseRealTime()->Iterations(50000);

// The same replies through the gateway's own client (libs/mqtt_client). The last iteration waits until
// everything was acknowledged (QoS 1) and written (Disconnect writes what is held first), so the timed
// process CPU counts the client's I/O thread for every publish.
void BM_ReplyPublishLean(benchmark::State& state) {
  const char* uri = std::getenv("IOT_BENCH_MQTT_URI");
  if (!uri) {
    state.SkipWithError("IOT_BENCH_MQTT_URI not set");
    return;
  }
  const std::string address = std::string(uri).substr(std::string(uri).find("://") + 3);
  const int qos = static_cast<int>(state.range(0));
  iot::mqtt::ClientOptions options;
  options.host = address.substr(0, address.rfind(':'));
  options.port = std::stoi(address.substr(address.rfind(':') + 1));
  options.client_id = "gw-bench-lean-" + std::to_string(qos);
  iot::mqtt::Client client(options);
  if (!client.Connect(std::chrono::seconds(5)).ok) {
    state.SkipWithError("cannot connect to IOT_BENCH_MQTT_URI");
    return;
  }
  const std::string payload = iot::alink::BuildReply("12345", 200, "thing.event.property.post");
  std::int64_t n = 0;
  for (auto _ : state) {
    while (!client.Publish("/sys/a1Bench0001/d1/thing/event/property/post_reply", payload, qos)) {
      std::this_thread::yield();  // 200,000 held: the broker is behind
    }
    if (++n == static_cast<std::int64_t>(state.max_iterations)) {  // timed: until all is out
      while (client.Unacknowledged() > 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      client.Disconnect(false, std::chrono::seconds(5));
    }
  }
  state.SetItemsProcessed(n);
}
BENCHMARK(BM_ReplyPublishLean)->Arg(0)->Arg(1)->MeasureProcessCPUTime()->UseRealTime()->Iterations(50000);

}  // namespace

BENCHMARK_MAIN();

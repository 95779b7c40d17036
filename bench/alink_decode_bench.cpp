// Gateway hot path for one device post: parse the topic, decode the envelope (params parsed once
// and moved out), check method vs topic, build the reply and its topic. Run by hand:
//   build-alink/bench/bench_alink_decode --benchmark_repetitions=3 --benchmark_report_aggregates_only
#include <fstream>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/json.hpp"

namespace {

namespace alink = iot::alink;

const std::string& PostPayload() {
  static const std::string payload = [] {
    std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/alink/property_post.json");
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
      s.pop_back();
    }
    return s;
  }();
  return payload;
}

constexpr const char* kTopic = "/sys/a1b2c3d4e5f/dev01/thing/event/property/post";

// Baseline on the same machine and run: plain nlohmann DOM parse of the same bytes.
void BM_NlohmannParseBaseline(benchmark::State& state) {
  const auto& payload = PostPayload();
  for (auto _ : state) {
    auto j = nlohmann::json::parse(payload, nullptr, false);
    benchmark::DoNotOptimize(j);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_NlohmannParseBaseline);

// The same bytes through the platform's depth-limited parser (iot::ParseJson: SAX into a DOM with the
// 64-level limit checked per container), which every outside JSON goes through.
void BM_ParseJsonDepthLimited(benchmark::State& state) {
  const auto& payload = PostPayload();
  for (auto _ : state) {
    nlohmann::json j;
    auto status = iot::ParseJson(payload, j);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(j);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_ParseJsonDepthLimited);

void BM_ParseTopic(benchmark::State& state) {
  for (auto _ : state) {
    auto t = alink::ParseTopic(kTopic);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_ParseTopic);

void BM_DecodeRequest(benchmark::State& state) {
  const auto& payload = PostPayload();
  for (auto _ : state) {
    auto r = alink::DecodeRequest(payload);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_DecodeRequest);

void BM_BuildReply(benchmark::State& state) {
  for (auto _ : state) {
    auto s = alink::BuildReply("17", 200, "thing.event.property.post");
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_BuildReply);

// The whole per-message path the gateway runs before validation and storage.
void BM_DecodeAndReply(benchmark::State& state) {
  const auto& payload = PostPayload();
  for (auto _ : state) {
    auto topic = alink::ParseTopic(kTopic);
    auto req = alink::DecodeRequest(payload);
    if (!topic || !req || !alink::CheckMethod(*topic, req->method)) {
      state.SkipWithError("decode failed");
      break;
    }
    auto reply_topic = alink::FormatTopic(*alink::ReplyTopicFor(*topic));
    auto reply = alink::BuildReply(req->id, 200, req->method);
    benchmark::DoNotOptimize(reply_topic);
    benchmark::DoNotOptimize(reply);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_DecodeAndReply);

// Broker plugin CONNECT check (parse + HMAC-SHA256 verify), for budgeting connect storms.
void BM_ConnectVerifySha256(benchmark::State& state) {
  const auto p = alink::MakeConnectParams("a1b2c3d4e5f", "dev01", "0123456789abcdef0123456789abcdef",
                                          alink::SignMethod::kHmacSha256, "2524608000000");
  for (auto _ : state) {
    auto c = alink::ParseConnect(p.client_id, p.username);
    auto ok = alink::VerifyPassword(*c, "0123456789abcdef0123456789abcdef", p.password);
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_ConnectVerifySha256);

}  // namespace

BENCHMARK_MAIN();

// Cost of a raw product's parsing script per message (libs/script on Duktape), against the Alink
// decode the gateway does for every JSON post. Run by hand:
//   build/bench/bench_script_call --benchmark_repetitions=3 --benchmark_report_aggregates_only
// A raw post costs the gateway one rawDataToProtocol, a JSON dump + DecodeRequest of its result
// (the same path as a JSON post from there on) and one protocolToRawData for the reply.
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "iot/alink/envelope.hpp"
#include "iot/script/script.hpp"

namespace {

// Alibaba's sample shape: command byte, int32 id, int16 temperature, uint8 humidity.
const char* kScript = R"JS(
function rawDataToProtocol(bytes) {
  var u = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) u[i] = bytes[i] & 0xff;
  var view = new DataView(u.buffer, 0);
  return { method: 'thing.event.property.post', version: '1.0', id: '' + view.getInt32(1),
           params: { Temp: view.getInt16(5), Humidity: u[7] } };
}
function int32(v) { return [(v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]; }
function protocolToRawData(json) {
  return [0x02].concat(int32(parseInt(json.id)), [json.code === 200 ? 0 : 1]);
}
)JS";

const std::string kFrame("\x00\x00\x00\x00\x07\xff\xf6\x37", 8);
const char* kAlinkPost =
    R"({"id":"7","version":"1.0","method":"thing.event.property.post","params":{"Temp":-10,"Humidity":55}})";

std::unique_ptr<iot::script::Script> Compiled() {
  auto s = iot::script::Script::Compile(kScript);
  if (!s) {
    std::abort();
  }
  return std::move(*s);
}

void BM_AlinkDecodeBaseline(benchmark::State& state) {
  for (auto _ : state) {
    auto r = iot::alink::DecodeRequest(kAlinkPost);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_AlinkDecodeBaseline);

void BM_RawDataToProtocol(benchmark::State& state) {
  auto script = Compiled();
  for (auto _ : state) {
    auto r = script->RawDataToProtocol(kFrame);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RawDataToProtocol);

void BM_ProtocolToRawData(benchmark::State& state) {
  auto script = Compiled();
  const nlohmann::json reply =
      nlohmann::json::parse(iot::alink::BuildReply("7", 200, "thing.event.property.post"));
  for (auto _ : state) {
    auto r = script->ProtocolToRawData(reply);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ProtocolToRawData);

// What the gateway adds for one raw post: convert up, re-encode + decode as Alink, convert the reply.
void BM_RawPostOverhead(benchmark::State& state) {
  auto script = Compiled();
  for (auto _ : state) {
    auto up = script->RawDataToProtocol(kFrame);
    auto req = iot::alink::DecodeRequest(up->dump());
    const nlohmann::json reply = nlohmann::json::parse(iot::alink::BuildReply(req->id, 200, req->method));
    auto down = script->ProtocolToRawData(reply);
    benchmark::DoNotOptimize(down);
  }
}
BENCHMARK(BM_RawPostOverhead);

// Compiling (heap creation + the script's top level): paid once per product and worker, and after a
// call that hit a limit.
void BM_Compile(benchmark::State& state) {
  for (auto _ : state) {
    auto s = iot::script::Script::Compile(kScript);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_Compile);

}  // namespace

BENCHMARK_MAIN();

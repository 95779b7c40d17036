// Fuzzes the script host (libs/script) with hostile scripts and hostile payloads.
// Input: byte 0 picks the mode, the rest is split at the first "\n//--\n" into script and payload.
//   mode even: the fuzzer's script (with working entry points appended when it defines none) runs
//              rawDataToProtocol on the payload, protocolToRawData on the result, transformPayload;
//   mode odd:  a fixed parser script (typed arrays, DataView, JSON) gets the whole rest as bytes and
//              its result back as JSON.
// Every call must return a value or an Error with a known code; limits keep each run short.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/script/script.hpp"

namespace {

const char* kParser = R"JS(
function rawDataToProtocol(bytes) {
  var u = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) u[i] = bytes[i] & 0xff;
  var v = new DataView(u.buffer, 0);
  var out = {method: 'thing.event.property.post', id: '' + (u.length > 4 ? v.getInt32(0) : 0), params: {}};
  for (var k = 4; k + 2 <= u.length; k += 2) out.params['p' + k] = v.getInt16(k) / (u[k] || 1);
  if (u.length > 1 && u[0] === 0x7b) out.params.text = JSON.parse(String.fromCharCode.apply(null, u));
  return out;
}
function protocolToRawData(json) {
  var s = JSON.stringify(json), a = [];
  for (var i = 0; i < s.length; i++) a.push(s.charCodeAt(i));
  return a;
}
)JS";

const char* kEntries =
    "\nif (typeof rawDataToProtocol !== 'function') rawDataToProtocol = function (b) { return {method: 'm', "
    "n: b.length}; };"
    "\nif (typeof protocolToRawData !== 'function') protocolToRawData = function (j) { return [1, 2]; };\n";

void CheckCode(int code) {
  static const std::set<int> kKnown = {iot::script::kScriptEmpty, iot::script::kScriptError,
                                       iot::script::kEntryMissing, iot::script::kWrongType,
                                       iot::script::kEmptyResult};
  if (!kKnown.count(code)) {
    __builtin_trap();
  }
}

iot::script::Limits FuzzLimits() {
  iot::script::Limits limits;
  limits.cpu_time = std::chrono::milliseconds(20);
  limits.memory_bytes = 2u << 20;
  limits.max_output_bytes = 16u << 10;
  return limits;
}

void Exercise(iot::script::Script& script, std::string_view payload) {
  auto up = script.RawDataToProtocol(payload);
  if (!up) {
    CheckCode(up.error().code);
  } else {
    auto down = script.ProtocolToRawData(*up);
    if (!down) CheckCode(down.error().code);
  }
  if (script.HasTransformPayload()) {
    auto t = script.TransformPayload("/pk/dn/user/fuzz", payload);
    if (!t) {
      CheckCode(t.error().code);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 8192) {
    return 0;
  }
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 1) {
    static auto parser = iot::script::Script::Compile(kParser, FuzzLimits());
    if (!parser) {
      __builtin_trap();
    }
    Exercise(**parser, rest);
    return 0;
  }
  const std::size_t cut = rest.find("\n//--\n");
  std::string source(rest.substr(0, cut));
  const std::string_view payload = cut == std::string_view::npos ? std::string_view() : rest.substr(cut + 6);
  source += kEntries;
  auto script = iot::script::Script::Compile(source, FuzzLimits());
  if (!script) {
    CheckCode(script.error().code);
    return 0;
  }
  Exercise(**script, payload);
  return 0;
}

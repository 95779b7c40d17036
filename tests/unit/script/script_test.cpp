#include "iot/script/script.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/script/hex.hpp"

using iot::script::Limits;
using iot::script::Script;
using nlohmann::json;

namespace {

// Alibaba's sample shape: byte 0 is the command, then a 32-bit id, then the values.
const char* kSample = R"JS(
var ALINK_PROP_REPORT_METHOD = 'thing.event.property.post';
var ALINK_PROP_SET_METHOD = 'thing.service.property.set';
function rawDataToProtocol(bytes) {
  var u = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) u[i] = bytes[i] & 0xff;
  var view = new DataView(u.buffer, 0);
  var out = {};
  if (u[0] === 0x00) {
    out.method = ALINK_PROP_REPORT_METHOD;
    out.version = '1.0';
    out.id = '' + view.getInt32(1);
    out.params = { Temp: view.getInt16(5), Humidity: view.getUint8(7) };
  } else if (u[0] === 0x03) {
    out.id = '' + view.getInt32(1);
    out.code = view.getUint8(5) === 0 ? 200 : 400;
    out.data = {};
  }
  return out;
}
function int32(v) { return [(v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]; }
function protocolToRawData(json) {
  if (json.method === ALINK_PROP_SET_METHOD) {
    return [0x01].concat(int32(parseInt(json.id)), [json.params.PowerSwitch & 0xff]);
  }
  return [0x02].concat(int32(parseInt(json.id)), [json.code === 200 ? 0 : 1]);
}
function transformPayload(topic, bytes) { return { topic: topic, length: bytes.length }; }
)JS";

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) {
    out.push_back(static_cast<char>(v));
  }
  return out;
}

std::unique_ptr<Script> MustCompile(const std::string& source, Limits limits = {}) {
  auto compiled = Script::Compile(source, limits);
  INFO((compiled ? std::string() : compiled.error().Text()));
  REQUIRE(compiled);
  return std::move(*compiled);
}

int CodeOfCompile(const std::string& source, Limits limits = {}) {
  auto compiled = Script::Compile(source, limits);
  return compiled ? 0 : compiled.error().code;
}

const std::string kEntries =
    "function rawDataToProtocol(b) { return {method: 'thing.event.property.post', params: {}}; }\n"
    "function protocolToRawData(j) { return [1]; }\n";

}  // namespace

TEST_CASE("Script: Alibaba-style sample converts both ways", "[script]") {
  auto script = MustCompile(kSample);
  auto up = script->RawDataToProtocol(Bytes({0x00, 0, 0, 0, 7, 0xff, 0xf6, 55}));
  REQUIRE(up);
  CHECK((*up)["method"] == "thing.event.property.post");
  CHECK((*up)["id"] == "7");
  CHECK((*up)["params"]["Temp"] == -10);
  CHECK((*up)["params"]["Humidity"] == 55);
  CHECK_FALSE(iot::script::RequireMethod(*up));

  auto down = script->ProtocolToRawData(
      json{{"id", "258"}, {"method", "thing.service.property.set"}, {"params", {{"PowerSwitch", 1}}}});
  REQUIRE(down);
  CHECK(*down == Bytes({0x01, 0, 0, 1, 2, 1}));

  auto reply =
      script->ProtocolToRawData(json{{"id", "7"}, {"code", 200}, {"method", "thing.event.property.post"}});
  REQUIRE(reply);
  CHECK(*reply == Bytes({0x02, 0, 0, 0, 7, 0}));

  auto set_reply = script->RawDataToProtocol(Bytes({0x03, 0, 0, 1, 2, 0}));
  REQUIRE(set_reply);
  CHECK((*set_reply)["code"] == 200);
  CHECK(iot::script::RequireMethod(*set_reply)->code == iot::script::kNoMethod);

  REQUIRE(script->HasTransformPayload());
  auto custom = script->TransformPayload("/pk/dn/user/update", Bytes({1, 2, 3}));
  REQUIRE(custom);
  CHECK((*custom)["topic"] == "/pk/dn/user/update");
  CHECK((*custom)["length"] == 3);
}

TEST_CASE("Script: bytes arrive signed like Java's byte[] and leave as their low 8 bits", "[script]") {
  auto script = MustCompile(
      "function rawDataToProtocol(b) { return {method: 'm', params: {first: b[0], n: b.length}}; }\n"
      "function protocolToRawData(j) { return [-1, 256, 257, 3.9, NaN]; }\n");
  auto up = script->RawDataToProtocol(Bytes({0xff}));
  REQUIRE(up);
  CHECK((*up)["params"]["first"] == -1);
  auto down = script->ProtocolToRawData(json::object({{"id", "1"}}));
  REQUIRE(down);
  CHECK(*down == Bytes({0xff, 0x00, 0x01, 0x03, 0x00}));
}

TEST_CASE("Script: a Uint8Array or ArrayBuffer result is taken as bytes", "[script]") {
  auto script = MustCompile(
      "function rawDataToProtocol(b) { return {method: 'm'}; }\n"
      "function protocolToRawData(j) { var u = new Uint8Array(3); u[0] = 9; u[2] = 200;"
      " return j.buffer ? u.buffer : u; }\n");
  CHECK(*script->ProtocolToRawData(json{{"buffer", false}}) == Bytes({9, 0, 200}));
  CHECK(*script->ProtocolToRawData(json{{"buffer", true}}) == Bytes({9, 0, 200}));
}

TEST_CASE("Script: empty, syntax errors and missing entry points are refused at compile", "[script]") {
  CHECK(CodeOfCompile("") == iot::script::kScriptEmpty);
  CHECK(CodeOfCompile("  \n\t ") == iot::script::kScriptEmpty);

  auto broken = Script::Compile("function rawDataToProtocol(b) {\n  var x = 1 +* 2; return x;\n}\n");
  REQUIRE_FALSE(broken);
  CHECK(broken.error().code == iot::script::kScriptError);
  CHECK(broken.error().line == 2);
  CHECK(broken.error().message.find("SyntaxError") != std::string::npos);
  CHECK(broken.error().Text().rfind("line 2: ", 0) == 0);

  auto missing = Script::Compile("function rawDataToProtocol(b) { return {}; }\n");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == iot::script::kEntryMissing);
  CHECK(missing.error().message.find("protocolToRawData") != std::string::npos);
  CHECK(CodeOfCompile("var rawDataToProtocol = 1; function protocolToRawData(j) { return [1]; }") ==
        iot::script::kEntryMissing);

  auto throws_at_top = Script::Compile(kEntries + "\n\nnull.x;\n");
  REQUIRE_FALSE(throws_at_top);
  CHECK(throws_at_top.error().code == iot::script::kScriptError);
  CHECK(throws_at_top.error().line == 5);
}

TEST_CASE("Script: runtime errors carry the line that threw", "[script]") {
  auto script = MustCompile(
      "function rawDataToProtocol(b) {\n"
      "  var x = b[0];\n"
      "  if (x === 1) throw new Error('bad frame');\n"
      "  return undefined.y;\n"
      "}\n"
      "function protocolToRawData(j) { return [1]; }\n");
  auto thrown = script->RawDataToProtocol(Bytes({1}));
  REQUIRE_FALSE(thrown);
  CHECK(thrown.error().code == iot::script::kScriptError);
  CHECK(thrown.error().line == 3);
  CHECK(thrown.error().message.find("bad frame") != std::string::npos);
  auto type_error = script->RawDataToProtocol(Bytes({2}));
  REQUIRE_FALSE(type_error);
  CHECK(type_error.error().line == 4);
  CHECK(type_error.error().message.find("TypeError") != std::string::npos);
}

TEST_CASE("Script: wrong result types and empty results get 26007 and 6201", "[script]") {
  auto script = MustCompile(
      "function rawDataToProtocol(b) { return [null, 'text', 5, [1], {}, function(){}][b[0]]; }\n"
      "function protocolToRawData(j) { return [null, 'text', {}, [], ['x'], undefined, 7][j.k]; }\n");
  using iot::script::kEmptyResult;
  using iot::script::kWrongType;
  const int up_codes[] = {kEmptyResult, kWrongType, kWrongType, kWrongType, kEmptyResult, kWrongType};
  for (int i = 0; i < 6; ++i) {
    auto r = script->RawDataToProtocol(Bytes({i}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == up_codes[i]);
  }
  const int down_codes[] = {kEmptyResult, kWrongType,   kWrongType, kEmptyResult,
                            kWrongType,   kEmptyResult, kWrongType};
  for (int i = 0; i < 7; ++i) {
    auto r = script->ProtocolToRawData(json{{"k", i}});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == down_codes[i]);
  }
}

// Duktape's executor checks the deadline only every 256K instructions, and one instruction can be a
// built-in working for seconds (kinds 3-6 ran for seconds, or completed, before the allocator checked
// the deadline too).
TEST_CASE("Script: an endless loop is stopped at the CPU limit, even one that catches or sits in built-ins",
          "[script]") {
  Limits limits;
  limits.cpu_time = std::chrono::milliseconds(20);
  auto script = MustCompile(
      "var calls = 0, hoard = [];\n"
      "function rawDataToProtocol(b) {\n"
      "  calls++;\n"
      "  if (b[0] === 1) { while (true) { try { while (true) {} } catch (e) {} } }\n"
      "  if (b[0] === 2) { for (;;) {} }\n"
      "  if (b[0] === 3) return {method: 'm', params: {n: new Array(3000000).join('').length}};\n"
      "  if (b[0] === 4) { while (true) hoard.push(new Array(1000).join('x') + hoard.length); }\n"
      "  if (b[0] === 5) { while (true) { try { new Array(1000).join('x'); } catch (e) {} } }\n"
      "  if (b[0] === 6) return {method: 'm', params: {m: "
      "/(a+)+b/.test('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')}};\n"
      "  return {method: 'm', params: {calls: calls, kept: hoard.length}};\n"
      "}\n"
      "function protocolToRawData(j) { while (true) {} }\n",
      limits);
  for (int kind : {1, 2, 3, 4, 5, 6}) {
    INFO(kind);
    auto r = script->RawDataToProtocol(Bytes({kind}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == iot::script::kScriptError);
    CHECK(r.error().message.find("CPU time limit") != std::string::npos);
    if (kind <= 2) {
      CHECK(r.error().line == 3 + kind);  // where it was looping
    }
  }
  auto down = script->ProtocolToRawData(json{{"id", "1"}});
  REQUIRE_FALSE(down);
  CHECK(down.error().message.find("CPU time limit") != std::string::npos);
  // The heap was rebuilt after the limit: the counters start again and the script still works.
  auto ok = script->RawDataToProtocol(Bytes({0}));
  REQUIRE(ok);
  CHECK((*ok)["params"]["calls"] == 1);
  CHECK((*ok)["params"]["kept"] == 0);
}

TEST_CASE("Script: a loop at the top level cannot hang compilation", "[script]") {
  Limits limits;
  limits.cpu_time = std::chrono::milliseconds(20);
  auto r = Script::Compile(kEntries + "while (true) {}\n", limits);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == iot::script::kScriptError);
  CHECK(r.error().message.find("CPU time limit") != std::string::npos);
}

TEST_CASE("Script: unbounded allocation is stopped at the memory limit", "[script]") {
  Limits limits;
  limits.memory_bytes = 4u << 20;
  limits.cpu_time = std::chrono::milliseconds(2000);
  auto script = MustCompile(
      "var keep = [];\n"
      "function rawDataToProtocol(b) {\n"
      "  if (b[0] === 1) { var a = []; while (true) a.push('x' + a.length); }\n"
      "  if (b[0] === 2) { var s = 'x'; while (true) { s = s + s; keep.push(s); } }\n"
      "  return {method: 'm', params: {kept: keep.length}};\n"
      "}\n"
      "function protocolToRawData(j) { return [1]; }\n",
      limits);
  for (int kind : {1, 2}) {
    auto r = script->RawDataToProtocol(Bytes({kind}));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == iot::script::kScriptError);
    CHECK(r.error().message.find("memory limit") != std::string::npos);
    CHECK(script->MemoryInUse() <= limits.memory_bytes);
  }
  auto ok = script->RawDataToProtocol(Bytes({0}));
  REQUIRE(ok);
  CHECK((*ok)["params"]["kept"] == 0);  // rebuilt: nothing survived the failed call
}

TEST_CASE("Script: the sandbox has no Duktape object and no I/O functions", "[script]") {
  auto script = MustCompile(
      "function rawDataToProtocol(b) { return {method: 'm', params: {\n"
      "  duktape: typeof Duktape, print: typeof print, require: typeof require,\n"
      "  alert: typeof alert, process: typeof process }}; }\n"
      "function protocolToRawData(j) { return [1]; }\n");
  auto r = script->RawDataToProtocol(Bytes({0}));
  REQUIRE(r);
  for (const char* name : {"duktape", "print", "require", "alert", "process"}) {
    INFO(name);
    CHECK((*r)["params"][name] == "undefined");
  }
}

TEST_CASE("Script: hostile results cannot escape the protected calls", "[script]") {
  auto script = MustCompile(
      "function rawDataToProtocol(b) {\n"
      "  if (b[0] === 1) { var o = {}; o.self = o; return o; }\n"
      "  if (b[0] === 2) { throw new Proxy({}, {get: function() { throw 1; }}); }\n"
      "  if (b[0] === 3) { return {toJSON: function() { while (true) {} }}; }\n"
      "  if (b[0] === 4) { return {method: '\\ud800'}; }\n"
      "  throw {toString: function() { throw 2; }};\n"
      "}\n"
      "function protocolToRawData(j) {\n"
      "  var a = [1, 2]; Object.defineProperty(a, 1, {get: function() { throw new Error('no'); }});\n"
      "  return a;\n"
      "}\n",
      Limits{std::chrono::milliseconds(20)});
  for (int kind : {1, 2, 3, 4, 5}) {
    INFO(kind);
    auto r = script->RawDataToProtocol(Bytes({kind}));
    REQUIRE_FALSE(r);
    CHECK((r.error().code == iot::script::kScriptError || r.error().code == iot::script::kWrongType));
  }
  auto down = script->ProtocolToRawData(json{{"id", "1"}});
  REQUIRE_FALSE(down);
  CHECK(down.error().code == iot::script::kScriptError);
}

TEST_CASE("Script: a script whose global lookups are accessors is handled", "[script]") {
  auto r = Script::Compile(
      "Object.defineProperty(this, 'rawDataToProtocol', {get: function() { throw 1; }});\n"
      "function protocolToRawData(j) { return [1]; }\n");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == iot::script::kScriptError);
}

TEST_CASE("Script: oversize results are refused", "[script]") {
  Limits limits;
  limits.max_output_bytes = 1000;
  auto script = MustCompile(
      "function rawDataToProtocol(b) { var s = ''; for (var i = 0; i < 2000; i++) s += 'x';"
      " return {method: 'm', params: {s: s}}; }\n"
      "function protocolToRawData(j) { var a = []; a.length = 100000000; return a; }\n",
      limits);
  auto up = script->RawDataToProtocol(Bytes({0}));
  REQUIRE_FALSE(up);
  CHECK(up.error().code == iot::script::kWrongType);
  auto down = script->ProtocolToRawData(json{{"id", "1"}});
  REQUIRE_FALSE(down);
  CHECK(down.error().code == iot::script::kWrongType);
}

TEST_CASE("Script: transformPayload is optional", "[script]") {
  auto script = MustCompile(kEntries);
  CHECK_FALSE(script->HasTransformPayload());
  auto r = script->TransformPayload("/a/b/user/x", "abc");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == iot::script::kEntryMissing);
}

TEST_CASE("Script: hex round trip for raw payloads", "[script][hex]") {
  CHECK(iot::script::ToHex(Bytes({0x00, 0xff, 0x1a})) == "00ff1a");
  CHECK(iot::script::ToHex(Bytes({1, 2, 3}), 2) == "0102");
  CHECK(*iot::script::FromHex("0x00 FF:1a\n") == Bytes({0x00, 0xff, 0x1a}));
  CHECK(iot::script::FromHex("").value().empty());
  CHECK_FALSE(iot::script::FromHex("abc"));
  CHECK_FALSE(iot::script::FromHex("zz"));
}

#pragma once

// Parsing scripts of raw (pass-through) products: JavaScript (ECMAScript 5.1 plus Duktape's ES2015
// typed arrays and DataView) run by an embedded Duktape, with Alibaba's entry points
//   rawDataToProtocol(bytes) -> Alink JSON object      (bytes: array of signed bytes, like Java's byte[])
//   protocolToRawData(json)  -> byte array              (numbers taken & 0xff, or a Uint8Array/ArrayBuffer)
//   transformPayload(topic, bytes) -> JSON object       (optional; custom topics)
//
// Sandbox: the script sees only ECMAScript's built-ins (no I/O: Duktape has no file, network, module
// or print functions built in, and its `Duktape` object is removed so no finalizer can run outside a
// call). Every call, and the script's top level, runs under a CPU-time limit (the calling thread's CPU
// time, checked by Duktape's executor interrupt) and the heap under a memory limit (a counting
// allocator refuses to grow past it). A call that hits a limit fails with 26002 and the heap is
// rebuilt before the next call, so no state survives a failed call.
//
// Pure: no I/O, no threads, no logging; no exception leaves the library. A Script is not thread-safe
// (one Duktape heap); use one per thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json_fwd.hpp>

namespace iot::script {

// Data-parsing script codes (reference §3.3) and the two general ones the scripts produce.
inline constexpr int kScriptEmpty = 26001;   // script empty
inline constexpr int kScriptError = 26002;   // syntax or runtime error, CPU or memory limit
inline constexpr int kEntryMissing = 26006;  // rawDataToProtocol / protocolToRawData missing
inline constexpr int kWrongType = 26007;     // wrong result type (bytes one way, an object the other)
inline constexpr int kRateLimited = 26010;   // the product's script budget is spent
inline constexpr int kNoScript = 6200;       // a raw product without a script
inline constexpr int kEmptyResult = 6201;    // the script returned nothing (null, undefined, [])
inline constexpr int kNoMethod = 6450;       // the converted uplink has no `method`

struct Limits {
  std::chrono::milliseconds cpu_time{50};     // per call (and for the top level at compile)
  std::size_t memory_bytes = 8u << 20;        // the heap, everything included
  std::size_t max_output_bytes = 256u << 10;  // protocolToRawData's bytes, the JSON results
};

struct Error {
  int code = 0;
  std::string message;  // e.g. "TypeError: cannot read property 'x' of undefined"
  int line = 0;         // line in the script (1-based); 0 when unknown
  // "line 3: TypeError: ..." (or just the message without a line).
  std::string Text() const;
};

// A value or an Error.
template <class T>
class Outcome {
 public:
  Outcome(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Outcome(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

class Script {
 public:
  // Compiles and runs the top level; checks that both required entry points are functions.
  // 26001 empty source, 26002 syntax/runtime error or a limit (with the line), 26006 entry missing.
  static Outcome<std::unique_ptr<Script>> Compile(std::string_view source, Limits limits = {});
  ~Script();
  Script(const Script&) = delete;
  Script& operator=(const Script&) = delete;

  // Bytes from the device -> an Alink JSON object (the caller checks `method` where it needs one).
  Outcome<nlohmann::json> RawDataToProtocol(std::string_view bytes);
  // An Alink JSON message -> bytes for the device.
  Outcome<std::string> ProtocolToRawData(const nlohmann::json& message);
  // A custom topic's bytes -> a JSON object (26006 when the script defines no transformPayload).
  Outcome<nlohmann::json> TransformPayload(std::string_view topic, std::string_view bytes);

  bool HasTransformPayload() const;
  std::size_t MemoryInUse() const;  // bytes the heap holds now
  const Limits& limits() const { return limits_; }

  struct Heap;  // Duktape heap and its accounting (script.cpp)

 private:
  Script(std::string source, Limits limits);
  std::optional<Error> Build();  // (re)creates the heap and runs the top level
  Outcome<nlohmann::json> CallObject(int kind, std::string_view topic, std::string_view bytes);

  std::string source_;
  Limits limits_;
  std::unique_ptr<Heap> heap_;
};

// 6450 unless `message` is an object with a non-empty string `method`.
std::optional<Error> RequireMethod(const nlohmann::json& message);

}  // namespace iot::script

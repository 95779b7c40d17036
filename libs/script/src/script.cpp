#include "iot/script/script.hpp"

#include <time.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include <nlohmann/json.hpp>

#include "duktape.h"

namespace iot::script {

namespace {

constexpr const char* kRawToProtocol = "rawDataToProtocol";
constexpr const char* kProtocolToRaw = "protocolToRawData";
constexpr const char* kTransform = "transformPayload";

std::int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string MiB(std::size_t bytes) {
  if (bytes % (1u << 20) == 0) {
    return std::to_string(bytes >> 20) + " MiB";
  }
  return std::to_string(bytes) + " bytes";
}

}  // namespace

// Everything Duktape's callbacks reach through the heap's udata.
struct Script::Heap {
  duk_context* ctx = nullptr;
  std::size_t used = 0;  // bytes handed out (headers included)
  std::size_t limit = 0;
  bool out_of_memory = false;    // an allocation was refused during the current call
  std::int64_t deadline_ns = 0;  // thread CPU time; 0 = no call running
  bool timed_out = false;
  bool refusing = false;  // the allocator found the deadline passed: every allocation fails
  unsigned allocations_since_check = 0;
  std::size_t bytes_since_check = 0;

  ~Heap() {
    if (ctx) {
      deadline_ns = 0;
      duk_destroy_heap(ctx);
    }
  }
};

namespace {

using Heap = Script::Heap;

// Allocation header: keeps the size so that frees and reallocs can be counted (16 keeps malloc's
// alignment).
constexpr std::size_t kHeader = 16;

// The executor checks the CPU deadline only every 256K bytecode instructions, and one instruction can
// be a built-in doing unbounded work (`new Array(1e8).join('')`, a loop of string joins: seconds between
// two checks). Such work allocates, so the allocator checks the deadline too, every kCheckEvery
// allocations or kCheckBytes allocated (reading the thread's CPU clock is a system call, ~1.5 us here:
// a typical call allocates less and reads it only at its start), and refuses every allocation once it
// has passed; Duktape then skips its garbage-collection retries (iot_duk_alloc_retries) and throws.
constexpr unsigned kCheckEvery = 256;
constexpr std::size_t kCheckBytes = 256u << 10;

bool PastDeadline(Heap& heap, std::size_t size) {
  if (heap.deadline_ns == 0) {
    return false;
  }
  if (heap.refusing) {
    return true;
  }
  heap.bytes_since_check += size;
  if (++heap.allocations_since_check < kCheckEvery && heap.bytes_since_check < kCheckBytes) {
    return false;
  }
  heap.allocations_since_check = 0;
  heap.bytes_since_check = 0;
  if (ThreadCpuNs() < heap.deadline_ns) {
    return false;
  }
  heap.timed_out = true;
  heap.refusing = true;
  return true;
}

void* Allocate(void* udata, duk_size_t size) {
  auto* heap = static_cast<Heap*>(udata);
  if (size == 0 || PastDeadline(*heap, size)) {
    return nullptr;
  }
  if (size > heap->limit || heap->used + size + kHeader > heap->limit) {
    heap->out_of_memory = true;
    return nullptr;
  }
  auto* block = static_cast<unsigned char*>(std::malloc(size + kHeader));
  if (!block) {
    return nullptr;
  }
  std::memcpy(block, &size, sizeof(size));
  heap->used += size + kHeader;
  return block + kHeader;
}

void Release(void* udata, void* ptr) {
  if (!ptr) {
    return;
  }
  auto* heap = static_cast<Heap*>(udata);
  auto* block = static_cast<unsigned char*>(ptr) - kHeader;
  duk_size_t size = 0;
  std::memcpy(&size, block, sizeof(size));
  heap->used -= size + kHeader;
  std::free(block);
}

void* Reallocate(void* udata, void* ptr, duk_size_t size) {
  if (!ptr) {
    return Allocate(udata, size);
  }
  if (size == 0) {
    Release(udata, ptr);
    return nullptr;
  }
  auto* heap = static_cast<Heap*>(udata);
  auto* block = static_cast<unsigned char*>(ptr) - kHeader;
  duk_size_t old = 0;
  std::memcpy(&old, block, sizeof(old));
  if (size > old && PastDeadline(*heap, size - old)) {
    return nullptr;
  }
  if (size > old && (size > heap->limit || heap->used - old + size > heap->limit)) {
    heap->out_of_memory = true;
    return nullptr;
  }
  auto* grown = static_cast<unsigned char*>(std::realloc(block, size + kHeader));
  if (!grown) {
    return nullptr;
  }
  std::memcpy(grown, &size, sizeof(size));
  heap->used = heap->used - old + size;
  return grown + kHeader;
}

// Reached only for errors outside a protected call, which this file never makes.
void Fatal(void*, const char* msg) {
  (void)msg;
  std::abort();
}

duk_ret_t ReadLineNumber(duk_context* ctx, void* udata) {
  if (duk_is_object(ctx, -1) && duk_get_prop_string(ctx, -1, "lineNumber") && duk_is_number(ctx, -1)) {
    *static_cast<int*>(udata) = static_cast<int>(duk_get_number(ctx, -1));
  }
  return 0;
}

// Reading a thrown value gets its own small CPU allowance: the call's limit may be spent (its line is
// still worth reading), and the value's getters and toString are script code.
constexpr std::int64_t kErrorReadNs = 2'000'000;

// The thrown value on the stack top -> Error (popped). Reading it may run script code (getters,
// toString), so both reads are protected.
Error ErrorFromStack(duk_context* ctx, Heap& heap, const Limits& limits) {
  const bool call_timed_out = heap.timed_out;
  if (heap.deadline_ns != 0) {
    heap.timed_out = false;
    heap.refusing = false;
    heap.allocations_since_check = 0;
    heap.bytes_since_check = 0;
    heap.deadline_ns = ThreadCpuNs() + kErrorReadNs;
  }
  Error e;
  e.code = kScriptError;
  duk_dup_top(ctx);
  if (duk_safe_call(ctx, ReadLineNumber, &e.line, 1, 1) != DUK_EXEC_SUCCESS) {
    e.line = 0;
  }
  duk_pop(ctx);
  e.message = duk_safe_to_string(ctx, -1);
  duk_pop(ctx);
  heap.timed_out = heap.timed_out || call_timed_out;
  if (heap.timed_out) {
    e.message = "CPU time limit exceeded (" + std::to_string(limits.cpu_time.count()) + " ms)";
  } else if (heap.out_of_memory) {
    e.message = "memory limit exceeded (" + MiB(limits.memory_bytes) + "): " + e.message;
  }
  return e;
}

// Brackets one entry into Duktape with the CPU deadline.
class Call {
 public:
  Call(Heap& heap, const Limits& limits) : heap_(heap) {
    heap_.out_of_memory = false;
    heap_.timed_out = false;
    heap_.refusing = false;
    heap_.deadline_ns =
        ThreadCpuNs() + std::chrono::duration_cast<std::chrono::nanoseconds>(limits.cpu_time).count();
  }
  ~Call() { heap_.deadline_ns = 0; }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  bool LimitHit() const { return heap_.timed_out || heap_.out_of_memory; }

 private:
  Heap& heap_;
};

// One operation, run inside duk_safe_call. Duktape throws with longjmp, so the functions below keep
// no local with a destructor alive across a Duktape call: inputs and results live here.
enum class OpKind { kBuild, kRawToProtocol, kProtocolToRaw, kTransform, kHasTransform };
struct Op {
  OpKind kind;
  const Limits* limits = nullptr;
  std::string_view source;
  std::string_view bytes;
  std::string_view topic;
  std::string_view json_in;
  // Results (besides a thrown error).
  int code = 0;           // non-zero: a non-script error (kEntryMissing, kWrongType, kEmptyResult)
  const char* what = "";  // its subject (static text)
  std::string json_out;
  std::string bytes_out;
  bool flag = false;  // kHasTransform
};

void PushSignedBytes(duk_context* ctx, std::string_view bytes) {
  duk_push_array(ctx);
  duk_uarridx_t i = 0;
  for (unsigned char b : bytes) {
    duk_push_int(ctx, static_cast<signed char>(b));
    duk_put_prop_index(ctx, -2, i++);
  }
}

bool IsFunctionGlobal(duk_context* ctx, const char* name) {
  duk_get_global_string(ctx, name);
  const bool yes = duk_is_function(ctx, -1) != 0;
  duk_pop(ctx);
  return yes;
}

// The value on top -> op.json_out; it must be a non-empty object.
void TakeObject(duk_context* ctx, Op& op) {
  if (duk_is_null_or_undefined(ctx, -1)) {
    op.code = kEmptyResult;
    op.what = "returned nothing";
    return;
  }
  if (!duk_is_object(ctx, -1) || duk_is_array(ctx, -1) || duk_is_function(ctx, -1) ||
      duk_is_buffer_data(ctx, -1)) {
    op.code = kWrongType;
    op.what = "must return a JSON object";
    return;
  }
  duk_json_encode(ctx, -1);
  duk_size_t len = 0;
  const char* text = duk_get_lstring(ctx, -1, &len);
  if (!text) {
    op.code = kWrongType;
    op.what = "must return a JSON object";
    return;
  }
  if (len > op.limits->max_output_bytes) {
    op.code = kWrongType;
    op.what = "returned too much JSON";
    return;
  }
  op.json_out.assign(text, len);
}

// The value on top -> op.bytes_out: an array of numbers (low 8 bits each) or any buffer.
void TakeBytes(duk_context* ctx, Op& op) {
  if (duk_is_null_or_undefined(ctx, -1)) {
    op.code = kEmptyResult;
    op.what = "returned nothing";
    return;
  }
  const std::size_t max = op.limits->max_output_bytes;
  if (duk_is_buffer_data(ctx, -1)) {
    duk_size_t size = 0;
    const void* data = duk_get_buffer_data(ctx, -1, &size);
    if (size > max) {
      op.code = kWrongType;
      op.what = "returned too many bytes";
      return;
    }
    if (size) {
      op.bytes_out.assign(static_cast<const char*>(data), size);
    }
    return;
  }
  if (!duk_is_array(ctx, -1)) {
    op.code = kWrongType;
    op.what = "must return a byte array (numbers) or a Uint8Array";
    return;
  }
  const duk_size_t n = duk_get_length(ctx, -1);
  if (n > max) {
    op.code = kWrongType;
    op.what = "returned too many bytes";
    return;
  }
  op.bytes_out.reserve(n);
  for (duk_size_t i = 0; i < n; ++i) {
    duk_get_prop_index(ctx, -1, static_cast<duk_uarridx_t>(i));
    if (!duk_is_number(ctx, -1)) {
      op.code = kWrongType;
      op.what = "must return a byte array (numbers) or a Uint8Array";
      return;
    }
    // Like Java's (byte) cast of an int: the low 8 bits (NaN and infinities give 0).
    const duk_uint32_t v = duk_to_uint32(ctx, -1);
    duk_pop(ctx);
    op.bytes_out.push_back(static_cast<char>(v & 0xff));
  }
}

duk_ret_t RunOp(duk_context* ctx, void* udata) {
  Op& op = *static_cast<Op*>(udata);
  switch (op.kind) {
    case OpKind::kBuild:
      // No finalizers, no Duktape internals: only ECMAScript's built-ins remain.
      duk_push_global_object(ctx);
      duk_del_prop_string(ctx, -1, "Duktape");
      duk_pop(ctx);
      duk_push_string(ctx, "script.js");
      duk_compile_lstring_filename(ctx, 0, op.source.data(), op.source.size());
      duk_call(ctx, 0);
      duk_pop(ctx);
      if (!IsFunctionGlobal(ctx, kRawToProtocol)) {
        op.code = kEntryMissing;
        op.what = kRawToProtocol;
      } else if (!IsFunctionGlobal(ctx, kProtocolToRaw)) {
        op.code = kEntryMissing;
        op.what = kProtocolToRaw;
      }
      return 0;
    case OpKind::kHasTransform: op.flag = IsFunctionGlobal(ctx, kTransform); return 0;
    case OpKind::kRawToProtocol:
    case OpKind::kTransform: {
      const char* name = op.kind == OpKind::kTransform ? kTransform : kRawToProtocol;
      duk_get_global_string(ctx, name);
      if (!duk_is_function(ctx, -1)) {
        op.code = kEntryMissing;
        op.what = name;
        return 0;
      }
      int nargs = 1;
      if (op.kind == OpKind::kTransform) {
        duk_push_lstring(ctx, op.topic.data(), op.topic.size());
        nargs = 2;
      }
      PushSignedBytes(ctx, op.bytes);
      duk_call(ctx, nargs);
      TakeObject(ctx, op);
      return 0;
    }
    case OpKind::kProtocolToRaw:
      duk_get_global_string(ctx, kProtocolToRaw);
      if (!duk_is_function(ctx, -1)) {
        op.code = kEntryMissing;
        op.what = kProtocolToRaw;
        return 0;
      }
      duk_push_lstring(ctx, op.json_in.data(), op.json_in.size());
      duk_json_decode(ctx, -1);
      duk_call(ctx, 1);
      TakeBytes(ctx, op);
      return 0;
  }
  return 0;
}

// Runs `op` on `heap`; a thrown error becomes 26002 (with its line).
std::optional<Error> Run(Heap& heap, const Limits& limits, Op& op) {
  duk_context* ctx = heap.ctx;
  const duk_idx_t top = duk_get_top(ctx);
  op.limits = &limits;
  std::optional<Error> error;
  if (duk_safe_call(ctx, RunOp, &op, 0, 1) != DUK_EXEC_SUCCESS) {
    error = ErrorFromStack(ctx, heap, limits);
  }
  duk_set_top(ctx, top);
  return error;
}

// Run under the CPU deadline; `limit_hit` tells whether the CPU or memory limit was reached.
std::optional<Error> RunLimited(Script::Heap& heap, const Limits& limits, Op& op, bool& limit_hit) {
  Call call(heap, limits);
  std::optional<Error> error = Run(heap, limits, op);
  limit_hit = call.LimitHit();
  return error;
}

std::string Subject(const Op& op, const char* fallback) {
  if (op.code == kEntryMissing) {
    return std::string("the script defines no function ") + op.what;
  }
  return std::string(fallback) + " " + op.what;
}

}  // namespace

std::string Error::Text() const {
  if (line > 0) {
    return "line " + std::to_string(line) + ": " + message;
  }
  return message;
}

std::optional<Error> RequireMethod(const nlohmann::json& message) {
  if (message.is_object()) {
    auto it = message.find("method");
    if (it != message.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      return std::nullopt;
    }
  }
  return Error{kNoMethod, "the script's result has no method", 0};
}

Script::Script(std::string source, Limits limits) : source_(std::move(source)), limits_(limits) {}

Script::~Script() = default;

Outcome<std::unique_ptr<Script>> Script::Compile(std::string_view source, Limits limits) {
  if (source.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Error{kScriptEmpty, "the script is empty", 0};
  }
  std::unique_ptr<Script> script(new Script(std::string(source), limits));
  if (auto error = script->Build()) {
    return *error;
  }
  return script;
}

std::optional<Error> Script::Build() {
  heap_.reset();
  auto heap = std::make_unique<Heap>();
  heap->limit = limits_.memory_bytes;
  heap->ctx = duk_create_heap(Allocate, Reallocate, Release, heap.get(), Fatal);
  if (!heap->ctx) {
    return Error{kScriptError,
                 "memory limit exceeded (" + MiB(limits_.memory_bytes) + "): the engine does not fit", 0};
  }
  Op op{OpKind::kBuild};
  op.source = source_;
  bool limit_hit = false;
  if (auto error = RunLimited(*heap, limits_, op, limit_hit)) {
    return error;
  }
  if (op.code) {
    return Error{op.code, Subject(op, ""), 0};
  }
  heap_ = std::move(heap);
  return std::nullopt;
}

bool Script::HasTransformPayload() const {
  if (!heap_) {
    return false;
  }
  Op op{OpKind::kHasTransform};
  Call call(*heap_, limits_);
  return !Run(*heap_, limits_, op) && op.flag;
}

std::size_t Script::MemoryInUse() const { return heap_ ? heap_->used : 0; }

namespace {

template <class T>
Outcome<T> Finish(std::unique_ptr<Script::Heap>& heap, bool limit_hit, std::optional<Error> error,
                  const Op& op, const char* name, T value) {
  if (limit_hit) {
    heap.reset();  // rebuilt before the next call: nothing survives a limit
  }
  if (error) {
    return *error;
  }
  if (op.code) {
    return Error{op.code, Subject(op, name), 0};
  }
  return value;
}

}  // namespace

Outcome<nlohmann::json> Script::RawDataToProtocol(std::string_view bytes) {
  return CallObject(static_cast<int>(OpKind::kRawToProtocol), {}, bytes);
}

Outcome<nlohmann::json> Script::TransformPayload(std::string_view topic, std::string_view bytes) {
  return CallObject(static_cast<int>(OpKind::kTransform), topic, bytes);
}

Outcome<nlohmann::json> Script::CallObject(int kind_value, std::string_view topic, std::string_view bytes) {
  if (!heap_) {
    if (auto error = Build()) {
      return *error;
    }
  }
  const auto kind = static_cast<OpKind>(kind_value);
  const char* name = kind == OpKind::kTransform ? kTransform : kRawToProtocol;
  Op op{kind};
  op.topic = topic;
  op.bytes = bytes;
  bool limit_hit = false;
  std::optional<Error> error = RunLimited(*heap_, limits_, op, limit_hit);
  nlohmann::json parsed;
  if (!error && !op.code) {
    parsed = nlohmann::json::parse(op.json_out, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      op.code = kWrongType;
      op.what = "returned an object that is not valid JSON text (invalid UTF-8?)";
    } else if (parsed.empty()) {
      op.code = kEmptyResult;
      op.what = "returned an empty object";
    }
  }
  return Finish<nlohmann::json>(heap_, limit_hit, std::move(error), op, name, std::move(parsed));
}

Outcome<std::string> Script::ProtocolToRawData(const nlohmann::json& message) {
  if (!heap_) {
    if (auto error = Build()) {
      return *error;
    }
  }
  const std::string text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  Op op{OpKind::kProtocolToRaw};
  op.json_in = text;
  bool limit_hit = false;
  std::optional<Error> error = RunLimited(*heap_, limits_, op, limit_hit);
  if (!error && !op.code && op.bytes_out.empty()) {
    op.code = kEmptyResult;
    op.what = "returned no bytes";
  }
  return Finish<std::string>(heap_, limit_hit, std::move(error), op, kProtocolToRaw, std::move(op.bytes_out));
}

}  // namespace iot::script

// Duktape retries a refused allocation after up to 10 garbage collections; once the CPU limit is reached
// none (a script catching the errors would otherwise buy 10 collections of its heap per allocation).
extern "C" int iot_duk_alloc_retries(void* udata) {
  auto* heap = static_cast<iot::script::Script::Heap*>(udata);
  return heap && heap->deadline_ns != 0 && heap->timed_out ? 0 : 10;
}

extern "C" int iot_duk_exec_timeout_check(void* udata) {
  auto* heap = static_cast<iot::script::Script::Heap*>(udata);
  if (!heap || heap->deadline_ns == 0) {
    return 0;
  }
  if (heap->timed_out) {
    return 1;  // keep throwing until the call has unwound completely
  }
  if (iot::script::ThreadCpuNs() < heap->deadline_ns) {
    return 0;
  }
  heap->timed_out = true;
  return 1;
}

#pragma once

// The two load scenarios of iot-loadgen, usable from the executable and from tests.
//
// Threading: `threads` io_contexts, one thread each; devices are dealt round-robin to them and never
// move, so no connection state is shared between threads. The calling thread only orchestrates phases
// (connect, hold or pace, drain, disconnect) and reads counters.

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "devices.hpp"
#include "iot/alink/credentials.hpp"
#include "stats.hpp"

namespace iot::loadgen {

struct CommonOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::vector<DeviceCredentials> devices;
  int threads = 1;
  // Connects in flight at most (all threads together). Mosquitto 2.0 listens with a backlog of 100: a
  // larger window overflows its accept queue, and the dropped handshakes come back after the 1 s SYN
  // retransmission (p99 ~1 s instead of ~30 ms; docs/BENCHMARKS.md).
  int window = 100;
  double connect_timeout_s = 10;
  int keepalive_s = 300;
  bool clean_session = true;
  alink::SignMethod sign_method = alink::SignMethod::kHmacSha256;
  std::string timestamp = "2524608000000";  // what the C SDK 3.x sends
  std::vector<SampledProcess> sampled;      // processes whose CPU is reported per phase
  bool progress = false;                    // one status line per second on stderr
};

struct StormOptions : CommonOptions {
  double hold_s = 0;  // stay connected this long after the last CONNACK, then DISCONNECT cleanly
  // Lifecycle watcher: a service account (e.g. iot-gateway) subscribed to /as/mqtt/status/+/+ before
  // the storm; counts online (and, after the disconnect, offline) messages per device. Empty: none.
  std::string watch_user;
  std::string watch_secret;
  double lifecycle_wait_s = 10;  // how long to wait for the last lifecycle messages
};

struct PublishOptions : CommonOptions {
  double rate = 1000;          // posts per second, all devices together (token bucket)
  double duration_s = 10;      // sending time
  double drain_s = 10;         // then wait at most this long for outstanding replies
  int qos = 1;                 // of the posts
  int sub_qos = 0;             // of the reply subscription
  int max_inflight = 0;        // unanswered posts per device before it is skipped; 0 = unlimited
  std::string params_json;     // fixed `params` object; empty: 5 generated properties (see DefaultTsl)
  bool ids_per_device = true;  // JSON lists the ranges of ids answered 200 for every device
  // Ids of every device run first_id, first_id + 1, ...: runs against the same database use disjoint
  // ranges, or the platform's dedupe (same device, id and payload within 10 minutes) would answer a
  // later run's posts as duplicates without storing them.
  std::uint64_t first_id = 1;
  // Raw product (--raw): bytes on thing/model/up_raw, answered on up_raw_reply. Frame:
  // 0x00, id (uint32 BE), temperature*10 (int16 BE), humidity, powerSwitch; reply 0x02, id, code
  // (uint16 BE) as bench/raw_script.js converts them. A JSON reply (script failure) is read too.
  bool raw = false;
};

// A plain responder for broker-alone ceilings and for trying the generator without the platform: a
// service account subscribed to property posts that answers each with code 200 on `<topic>_reply`.
struct EchoOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string user = "iot-gateway";
  std::string secret;
  std::string filter = "/sys/+/+/thing/event/property/post";
  int sub_qos = 1;
  int reply_qos = 0;
  double duration_s = 0;  // 0: until `stop` becomes true
  std::vector<SampledProcess> sampled;
};

// All return the JSON summary (see README.md for the fields).
nlohmann::json RunConnectStorm(const StormOptions& options);
nlohmann::json RunPublish(const PublishOptions& options);
nlohmann::json RunEcho(const EchoOptions& options, const std::atomic<bool>& stop);

// A thing model (TSL JSON) whose properties match the generated `params`, for registering the product
// used by `publish` runs.
std::string DefaultTsl(const std::string& product_key);

// Compact human-readable lines of a summary (stdout of iot-loadgen).
std::string FormatSummary(const nlohmann::json& summary);

}  // namespace iot::loadgen

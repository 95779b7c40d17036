#pragma once

// Live-stream clients for the end-to-end benchmark (issue 8's cost of the stream on ingest): N
// WebSocket clients of iot-api's GET /api/v1/stream on one thread, each subscribed to a product,
// counting what they receive until stopped. Boost.Beast, in this translation unit only.

#include <atomic>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace iot::loadgen {

struct StreamOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string target = "/api/v1/stream";
  std::string token;        // Bearer token (Authorization header)
  std::string product_key;  // subscribed to by every client
  int clients = 10;
  double duration_s = 0;  // 0: until `stop` becomes true
};

// Connects every client (throws when none can), then counts messages until the duration passes or
// `stop` is set. JSON: clients, connected, failed, messages, bytes, by_type, closed_by_server
// {code: n}, seconds, cpu {generator: {cpu_ms, us_per_message}}.
nlohmann::json RunStream(const StreamOptions& options, const std::atomic<bool>& stop);

}  // namespace iot::loadgen

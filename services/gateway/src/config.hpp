#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "iot/common/config.hpp"

namespace iot::gateway {

// Everything iot-gateway is configured with. File keys (JSON, `--config`) are the snake_case names
// below; each has an IOT_* environment variable, and the environment wins.
struct Config {
  std::string pg_dsn;                         // IOT_PG_DSN (required)
  std::string mqtt_host = "127.0.0.1";        // IOT_MQTT_HOST
  int mqtt_port = 1883;                       // IOT_MQTT_PORT
  std::string mqtt_username = "iot-gateway";  // IOT_MQTT_USERNAME (service account)
  std::string mqtt_password;                  // IOT_MQTT_PASSWORD (never logged)
  std::string client_id;                      // IOT_GATEWAY_CLIENT_ID (default iot-gateway-<host>)
  std::string share_group = "iot-gateway";    // IOT_GATEWAY_SHARE_GROUP ("" = plain subscriptions)
  int session_expiry_s = 86400;               // IOT_GATEWAY_SESSION_EXPIRY_S (> 0)
  // 1: on SIGTERM unsubscribe, drain, then disconnect with Session Expiry 0, so a replica that is
  // scaled down holds no share of the traffic (docker-compose.yml); 0: keep the session (one gateway).
  int end_session_on_stop = 0;             // IOT_GATEWAY_END_SESSION_ON_STOP (0 or 1)
  int keepalive_s = 30;                    // IOT_GATEWAY_KEEPALIVE_S
  int reply_qos = 0;                       // IOT_GATEWAY_REPLY_QOS (0 or 1)
  std::string metrics_bind = "127.0.0.1";  // IOT_GATEWAY_METRICS_BIND
  int metrics_port = 9464;                 // IOT_GATEWAY_METRICS_PORT (0 = off)
  int workers = 2;                         // IOT_GATEWAY_WORKERS
  int queue_high = 20000;                  // IOT_GATEWAY_QUEUE_HIGH: pause consumption above
  int queue_low = 5000;                    // IOT_GATEWAY_QUEUE_LOW: resume at or below
  int writers = 2;                         // IOT_GATEWAY_WRITERS: batch writers (one connection each)
  int writer_queue = 4096;                 // IOT_GATEWAY_WRITER_QUEUE
  int batch_max = 512;                     // IOT_GATEWAY_BATCH_MAX: messages per transaction
  // The longest batch window; the window follows the load (the previous batch's processing time):
  // a few ms when lightly loaded, up to this when commits take long (docs/BENCHMARKS.md).
  int batch_delay_ms = 15;   // IOT_GATEWAY_BATCH_DELAY_MS
  double device_rate = 100;  // IOT_GATEWAY_DEVICE_RATE: messages/s per device (0 = off)
  // Raw products' parsing scripts: CPU time and heap per call, and per product and worker the CPU
  // time per second its script may use (26010 above; 0 = no budget).
  int script_cpu_ms = 50;             // IOT_SCRIPT_CPU_MS
  int script_memory_mb = 8;           // IOT_SCRIPT_MEMORY_MB
  int script_budget_ms = 250;         // IOT_GATEWAY_SCRIPT_BUDGET_MS
  int cache_ttl_ms = 60000;           // IOT_GATEWAY_CACHE_TTL_MS (safety net behind NOTIFY)
  int max_cached_devices = 200000;    // IOT_GATEWAY_CACHE_DEVICES
  std::string log_level = "info";     // IOT_LOG_LEVEL
  std::string log_format = "logfmt";  // IOT_LOG_FORMAT: logfmt or json
  // IOT_PUBLIC_BASE_URL (as iot-api's, no trailing slash): the base of the configuration download
  // links in thing.config.get replies; empty gives links relative to iot-api's root.
  std::string public_base_url;
  // Forwarding (forwarder.hpp): 1 runs the forwarder in this gateway (every gateway writes the outbox
  // either way); its batch, HTTP timeout, and when it gives a message up to the dead letters.
  int forward = 1;                   // IOT_GATEWAY_FORWARD (0 or 1)
  int forward_batch = 500;           // IOT_FORWARD_BATCH
  int forward_timeout_ms = 10000;    // IOT_FORWARD_TIMEOUT_MS
  int forward_max_attempts = 10;     // IOT_FORWARD_MAX_ATTEMPTS (0 = no limit)
  int forward_max_age_s = 86400;     // IOT_FORWARD_MAX_AGE_S: failing this long (0 = no limit)
  int forward_retry_max_ms = 60000;  // IOT_FORWARD_RETRY_MAX_MS: longest backoff
};

using iot::ConfigError;
using iot::EnvLookup;

// Reads the JSON file (none: defaults), applies the environment, validates. Throws ConfigError.
Config LoadConfig(const std::string& config_path, const EnvLookup& env);

}  // namespace iot::gateway

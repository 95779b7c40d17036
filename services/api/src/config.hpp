#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "iot/common/config.hpp"
#include "transport/server.hpp"

namespace iot::api {

// Device control: the API's own broker session (service account) and the downlink limits.
struct ControlConfig {
  std::string mqtt_username;        // IOT_MQTT_USERNAME: the API's service account ("" = no downlink)
  std::string mqtt_password;        // IOT_MQTT_PASSWORD (environment only, never logged)
  std::string mqtt_client_id;       // IOT_MQTT_CLIENT_ID (default iot-api-<host>-<pid>)
  int downlink_rate = 50;           // IOT_DOWNLINK_RATE: downlink messages per second per device (0 = off)
  int queue_limit = 1000;           // IOT_DEVICE_QUEUE_LIMIT: queued commands per device before 429
  int script_cpu_ms = 50;           // IOT_SCRIPT_CPU_MS: raw products' scripts, CPU time per call
  int script_memory_mb = 8;         // IOT_SCRIPT_MEMORY_MB: and heap per script
  int online_grace_ms = 500;        // IOT_ONLINE_GRACE_MS: wait after a device comes online before
                                    // delivering its queue (it subscribes right after connecting)
  int broadcast_rate = 1;           // IOT_BROADCAST_RATE: broadcasts per second per product (Alibaba: 1)
  int messages_per_device = 10000;  // IOT_DEVICE_MESSAGES_MAX: custom-topic messages kept per device
                                    // and direction (older ones pruned by the maintenance loop)
};

// Everything iot-api is configured with; built once in main() and handed out piecewise.
struct Config {
  ServerSettings http;
  std::string pg_dsn;                    // IOT_PG_DSN (required)
  int db_threads = 8;                    // IOT_PG_POOL_THREADS: DB pool workers (one connection each)
  std::size_t db_queue_capacity = 1024;  // IOT_PG_POOL_QUEUE: pending DB tasks before 503
  std::string mqtt_host;                 // IOT_MQTT_HOST: broker probed by /readyz ("" = not probed)
  int mqtt_port = 1883;                  // IOT_MQTT_PORT
  ControlConfig control;                 // device control (downlink) settings
  std::string dry_run_dsn;         // IOT_DRY_RUN_DSN: where dry runs read recorded traffic ("" = IOT_PG_DSN)
  int dry_run_rows_per_s = 20000;  // IOT_DRY_RUN_ROWS_PER_S: pacing of a dry run's reads (0 = unpaced)
  int registration_rate = 5;  // IOT_REGISTRATION_RATE: dynamic registrations per second per product (0 = off)
  int maintenance_interval_s = 600;  // IOT_MAINTENANCE_INTERVAL_S: partitions/retention/dedupe (0 = off)
  int rollup_interval_s = 10;        // IOT_ROLLUP_INTERVAL_S: hourly rollups kept current (0 = off)
  int rollup_retention_days = 400;   // IOT_ROLLUP_RETENTION_DAYS: how long rollups are kept
  int compaction_interval_s = 300;   // IOT_COMPACTION_INTERVAL_S: closed days into blocks (0 = off)
  // Live stream: messages / bytes queued per WebSocket client before it is closed with 1008.
  std::size_t stream_queue_messages = 1024;          // IOT_STREAM_QUEUE_MESSAGES
  std::size_t stream_queue_bytes = 4 * 1024 * 1024;  // IOT_STREAM_QUEUE_BYTES
  std::string admin_token;            // IOT_ADMIN_TOKEN: bootstrap admin bearer token (never logged)
  int token_cache_ms = 10000;         // IOT_TOKEN_CACHE_MS: how long a valid token is cached (0 = off)
  int token_cache_entries = 10000;    // IOT_TOKEN_CACHE_ENTRIES: the cache's bound (full: emptied)
  int auth_failures_per_minute = 60;  // IOT_AUTH_FAILURES_PER_MIN: per client address before 429 (0 = off)
  int token_default_ttl_days =
      90;  // IOT_TOKEN_DEFAULT_TTL_DAYS: expiry of new tokens naming none (0 = never)
  std::string log_level = "info";
  std::string log_format = "logfmt";  // logfmt or json
  std::string openapi_path;  // IOT_OPENAPI_PATH: served at /api/v1/openapi.json (empty: the embedded one)
  std::string web_dir;       // IOT_WEB_DIR: the built web console served at / (default: see DefaultWebDir)
  // IOT_PUBLIC_BASE_URL: how devices and browsers outside reach this API (https://iot.example.com);
  // every link handed to a device is built from it, never from the request's Host header.
  std::string public_base_url;
};

using iot::ConfigError;
using iot::EnvLookup;

// Reads the JSON file at `config_path` (none: defaults only), then applies the IOT_* environment
// overrides, then validates every field. Throws ConfigError listing all problems.
Config LoadConfig(const std::string& config_path, const EnvLookup& env);

// The keys a config file may hold (dotted paths, "http.port"): exactly those LoadConfig reads.
std::vector<std::string> ConfigFileKeys();

}  // namespace iot::api

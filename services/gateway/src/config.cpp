#include "config.hpp"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"

namespace iot::gateway {
namespace {

bool ValidShareGroup(const std::string& group) {
  for (char c : group) {
    if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) {
      return false;
    }
  }
  return true;
}

}  // namespace

Config LoadConfig(const std::string& config_path, const EnvLookup& env) {
  std::vector<std::string> problems;
  const nlohmann::json file = ReadConfigFile(config_path);
  Config c;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) {
    host[0] = 0;
  }
  c.client_id = std::string("iot-gateway-") + (host[0] ? host : "local");

  ConfigReader r(file, env, problems);
  r.String("pg_dsn", "IOT_PG_DSN", c.pg_dsn);
  r.String("mqtt_host", "IOT_MQTT_HOST", c.mqtt_host);
  r.Int("mqtt_port", "IOT_MQTT_PORT", 1, 65535, c.mqtt_port);
  r.String("mqtt_username", "IOT_MQTT_USERNAME", c.mqtt_username);
  r.String("mqtt_password", "IOT_MQTT_PASSWORD", c.mqtt_password);
  r.String("client_id", "IOT_GATEWAY_CLIENT_ID", c.client_id);
  r.String("share_group", "IOT_GATEWAY_SHARE_GROUP", c.share_group);
  r.Int("session_expiry_s", "IOT_GATEWAY_SESSION_EXPIRY_S", 1, 30 * 86400, c.session_expiry_s);
  r.Int("end_session_on_stop", "IOT_GATEWAY_END_SESSION_ON_STOP", 0, 1, c.end_session_on_stop);
  r.Int("keepalive_s", "IOT_GATEWAY_KEEPALIVE_S", 5, 1200, c.keepalive_s);
  r.Int("reply_qos", "IOT_GATEWAY_REPLY_QOS", 0, 1, c.reply_qos);
  r.String("metrics_bind", "IOT_GATEWAY_METRICS_BIND", c.metrics_bind);
  r.Int("metrics_port", "IOT_GATEWAY_METRICS_PORT", 0, 65535, c.metrics_port);
  r.Int("workers", "IOT_GATEWAY_WORKERS", 1, 64, c.workers);
  r.Int("queue_high", "IOT_GATEWAY_QUEUE_HIGH", 10, 10'000'000, c.queue_high);
  r.Int("queue_low", "IOT_GATEWAY_QUEUE_LOW", 0, 10'000'000, c.queue_low);
  r.Int("writers", "IOT_GATEWAY_WRITERS", 1, 16, c.writers);
  r.Int("writer_queue", "IOT_GATEWAY_WRITER_QUEUE", 1, 1'000'000, c.writer_queue);
  r.Int("batch_max", "IOT_GATEWAY_BATCH_MAX", 1, 10000, c.batch_max);
  r.Int("batch_delay_ms", "IOT_GATEWAY_BATCH_DELAY_MS", 0, 1000, c.batch_delay_ms);
  r.Double("device_rate", "IOT_GATEWAY_DEVICE_RATE", 0, 1e6, c.device_rate);
  r.Int("script_cpu_ms", "IOT_SCRIPT_CPU_MS", 1, 10000, c.script_cpu_ms);
  r.Int("script_memory_mb", "IOT_SCRIPT_MEMORY_MB", 1, 1024, c.script_memory_mb);
  r.Int("script_budget_ms", "IOT_GATEWAY_SCRIPT_BUDGET_MS", 0, 1000, c.script_budget_ms);
  r.Int("cache_ttl_ms", "IOT_GATEWAY_CACHE_TTL_MS", 100, 86'400'000, c.cache_ttl_ms);
  r.Int("cache_devices", "IOT_GATEWAY_CACHE_DEVICES", 100, 100'000'000, c.max_cached_devices);
  r.String("log_level", "IOT_LOG_LEVEL", c.log_level);
  r.String("log_format", "IOT_LOG_FORMAT", c.log_format);
  r.String("public_base_url", "IOT_PUBLIC_BASE_URL", c.public_base_url);
  r.Int("forward", "IOT_GATEWAY_FORWARD", 0, 1, c.forward);
  r.Int("forward_batch", "IOT_FORWARD_BATCH", 1, 1000, c.forward_batch);
  r.Int("forward_timeout_ms", "IOT_FORWARD_TIMEOUT_MS", 100, 600'000, c.forward_timeout_ms);
  r.Int("forward_max_attempts", "IOT_FORWARD_MAX_ATTEMPTS", 0, 1'000'000, c.forward_max_attempts);
  r.Int("forward_max_age_s", "IOT_FORWARD_MAX_AGE_S", 0, 365 * 86400, c.forward_max_age_s);
  r.Int("forward_retry_max_ms", "IOT_FORWARD_RETRY_MAX_MS", 100, 3'600'000, c.forward_retry_max_ms);

  if (c.pg_dsn.empty()) {
    problems.push_back("IOT_PG_DSN (pg_dsn): required");
  }
  if (c.mqtt_host.empty()) {
    problems.push_back("IOT_MQTT_HOST (mqtt_host): required");
  }
  if (c.client_id.empty() || c.client_id.size() > 128) {
    problems.push_back("IOT_GATEWAY_CLIENT_ID (client_id): 1-128 characters");
  }
  if (!ValidShareGroup(c.share_group)) {
    problems.push_back("IOT_GATEWAY_SHARE_GROUP (share_group): no '/', '+', '#' or control characters");
  }
  if (c.writers > c.workers) {
    problems.push_back("IOT_GATEWAY_WRITERS must not exceed IOT_GATEWAY_WORKERS");
  }
  if (c.queue_low >= c.queue_high) {
    problems.push_back("IOT_GATEWAY_QUEUE_LOW must be below IOT_GATEWAY_QUEUE_HIGH");
  }
  if (!c.public_base_url.empty() && c.public_base_url.rfind("https://", 0) != 0 &&
      c.public_base_url.rfind("http://", 0) != 0) {
    problems.push_back("IOT_PUBLIC_BASE_URL (public_base_url): must start with https:// or http://");
  }
  while (!c.public_base_url.empty() && c.public_base_url.back() == '/') {
    c.public_base_url.pop_back();
  }
  log::Level level;
  if (!log::ParseLevel(c.log_level, level)) {
    problems.push_back("IOT_LOG_LEVEL (log_level): debug, info, warn or error");
  }
  log::Format format{};
  if (!log::ParseFormat(c.log_format, format)) {
    problems.push_back("IOT_LOG_FORMAT (log_format): logfmt or json");
  }
  if (!problems.empty()) {
    throw ConfigError(problems);
  }
  return c;
}

}  // namespace iot::gateway

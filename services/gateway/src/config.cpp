#include "config.hpp"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"

namespace iot::gateway {
namespace {

class Reader {
 public:
  Reader(const nlohmann::json& file, const EnvLookup& env, std::vector<std::string>& problems)
      : file_(file), env_(env), problems_(problems) {}

  void String(const char* key, const char* env_name, std::string& out) {
    if (auto it = file_.find(key); it != file_.end()) {
      if (it->is_string()) {
        out = it->get<std::string>();
      } else {
        problems_.push_back(std::string(key) + ": must be a string");
      }
    }
    if (const char* v = env_ ? env_(env_name) : nullptr) out = v;
  }

  void Int(const char* key, const char* env_name, int& out, long min, long max) {
    if (auto it = file_.find(key); it != file_.end()) {
      if (it->is_number_integer()) {
        out = static_cast<int>(it->get<long>());
      } else {
        problems_.push_back(std::string(key) + ": must be an integer");
      }
    }
    if (const char* v = env_ ? env_(env_name) : nullptr) {
      std::string_view text(v);
      long value = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (ec != std::errc() || ptr != text.data() + text.size()) {
        problems_.push_back(std::string(env_name) + "=" + std::string(text) + ": not an integer");
        return;
      }
      if (value < min || value > max) {
        problems_.push_back(std::string(env_name) + ": must be between " + std::to_string(min) +
                            " and " + std::to_string(max));
        return;
      }
      out = static_cast<int>(value);
      return;
    }
    if (out < min || out > max) {
      problems_.push_back(std::string(key) + ": must be between " + std::to_string(min) + " and " +
                          std::to_string(max));
    }
  }

  void Double(const char* key, const char* env_name, double& out, double min, double max) {
    if (auto it = file_.find(key); it != file_.end()) {
      if (it->is_number()) {
        out = it->get<double>();
      } else {
        problems_.push_back(std::string(key) + ": must be a number");
      }
    }
    if (const char* v = env_ ? env_(env_name) : nullptr) {
      try {
        std::size_t used = 0;
        out = std::stod(v, &used);
        if (used != std::string_view(v).size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        problems_.push_back(std::string(env_name) + "=" + v + ": not a number");
        return;
      }
    }
    if (out < min || out > max) {
      problems_.push_back(std::string(key) + ": must be between " + std::to_string(min) + " and " +
                          std::to_string(max));
    }
  }

 private:
  const nlohmann::json& file_;
  const EnvLookup& env_;
  std::vector<std::string>& problems_;
};

bool ValidShareGroup(const std::string& group) {
  for (char c : group) {
    if (c == '/' || c == '+' || c == '#' || static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

}  // namespace

Config LoadConfig(const std::string& config_path, const EnvLookup& env) {
  std::vector<std::string> problems;
  nlohmann::json file = nlohmann::json::object();
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) throw ConfigError({"cannot read config file " + config_path});
    std::stringstream text;
    text << in.rdbuf();
    file = nlohmann::json::parse(text.str(), nullptr, false);
    if (file.is_discarded() || !file.is_object()) {
      throw ConfigError({config_path + ": not a JSON object"});
    }
  }
  Config c;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  c.client_id = std::string("iot-gateway-") + (host[0] ? host : "local");

  Reader r(file, env, problems);
  r.String("pg_dsn", "IOT_PG_DSN", c.pg_dsn);
  r.String("mqtt_host", "IOT_MQTT_HOST", c.mqtt_host);
  r.Int("mqtt_port", "IOT_MQTT_PORT", c.mqtt_port, 1, 65535);
  r.String("mqtt_username", "IOT_MQTT_USERNAME", c.mqtt_username);
  r.String("mqtt_password", "IOT_MQTT_PASSWORD", c.mqtt_password);
  r.String("client_id", "IOT_GATEWAY_CLIENT_ID", c.client_id);
  r.String("share_group", "IOT_GATEWAY_SHARE_GROUP", c.share_group);
  r.Int("session_expiry_s", "IOT_GATEWAY_SESSION_EXPIRY_S", c.session_expiry_s, 1, 30 * 86400);
  r.Int("end_session_on_stop", "IOT_GATEWAY_END_SESSION_ON_STOP", c.end_session_on_stop, 0, 1);
  r.Int("keepalive_s", "IOT_GATEWAY_KEEPALIVE_S", c.keepalive_s, 5, 1200);
  r.Int("reply_qos", "IOT_GATEWAY_REPLY_QOS", c.reply_qos, 0, 1);
  r.String("metrics_bind", "IOT_GATEWAY_METRICS_BIND", c.metrics_bind);
  r.Int("metrics_port", "IOT_GATEWAY_METRICS_PORT", c.metrics_port, 0, 65535);
  r.Int("workers", "IOT_GATEWAY_WORKERS", c.workers, 1, 64);
  r.Int("queue_high", "IOT_GATEWAY_QUEUE_HIGH", c.queue_high, 10, 10'000'000);
  r.Int("queue_low", "IOT_GATEWAY_QUEUE_LOW", c.queue_low, 0, 10'000'000);
  r.Int("writers", "IOT_GATEWAY_WRITERS", c.writers, 1, 16);
  r.Int("writer_queue", "IOT_GATEWAY_WRITER_QUEUE", c.writer_queue, 1, 1'000'000);
  r.Int("batch_max", "IOT_GATEWAY_BATCH_MAX", c.batch_max, 1, 10000);
  r.Int("batch_delay_ms", "IOT_GATEWAY_BATCH_DELAY_MS", c.batch_delay_ms, 0, 1000);
  r.Double("device_rate", "IOT_GATEWAY_DEVICE_RATE", c.device_rate, 0, 1e6);
  r.Int("script_cpu_ms", "IOT_SCRIPT_CPU_MS", c.script_cpu_ms, 1, 10000);
  r.Int("script_memory_mb", "IOT_SCRIPT_MEMORY_MB", c.script_memory_mb, 1, 1024);
  r.Int("script_budget_ms", "IOT_GATEWAY_SCRIPT_BUDGET_MS", c.script_budget_ms, 0, 1000);
  r.Int("cache_ttl_ms", "IOT_GATEWAY_CACHE_TTL_MS", c.cache_ttl_ms, 100, 86'400'000);
  r.Int("cache_devices", "IOT_GATEWAY_CACHE_DEVICES", c.max_cached_devices, 100, 100'000'000);
  r.String("log_level", "IOT_LOG_LEVEL", c.log_level);
  r.String("log_format", "IOT_LOG_FORMAT", c.log_format);

  if (c.pg_dsn.empty()) problems.push_back("IOT_PG_DSN (pg_dsn): required");
  if (c.mqtt_host.empty()) problems.push_back("IOT_MQTT_HOST (mqtt_host): required");
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
  log::Level level;
  if (!log::ParseLevel(c.log_level, level)) {
    problems.push_back("IOT_LOG_LEVEL (log_level): debug, info, warn or error");
  }
  log::Format format{};
  if (!log::ParseFormat(c.log_format, format)) {
    problems.push_back("IOT_LOG_FORMAT (log_format): logfmt or json");
  }
  if (!problems.empty()) throw ConfigError(problems);
  return c;
}

}  // namespace iot::gateway

#include "config.hpp"

#include <arpa/inet.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "http/request.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"

#ifndef IOT_DEFAULT_WEB_DIR
#define IOT_DEFAULT_WEB_DIR "web/dist"
#endif
#ifndef IOT_INSTALLED_WEB_DIR_FROM_BIN
#define IOT_INSTALLED_WEB_DIR_FROM_BIN "../share/iot-cloud/web"
#endif

namespace iot::api {
namespace {

// The console of an installed tree (<prefix>/share/iot-cloud/web, found from the executable's own path, so
// the tree may move), else the build tree's.
std::string DefaultWebDir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = (exe.parent_path() / IOT_INSTALLED_WEB_DIR_FROM_BIN).lexically_normal();
    if (fs::is_regular_file(installed / "index.html", ec)) {
      return installed.string();
    }
  }
  return IOT_DEFAULT_WEB_DIR;
}

// Every setting, read once: the keys this reads are exactly the keys a config file may hold (anything
// else in the file is refused as an unknown setting), so the file's schema cannot drift from the loader.
void ReadSettings(ConfigReader& read, Config& config, std::string& proxies) {
  ServerSettings& s = config.http;
  read.String("http.bind", "IOT_HTTP_BIND", s.bind_address);
  read.Int("http.port", "IOT_HTTP_PORT", 0, 65535, s.port);
  read.Int("http.threads", "IOT_HTTP_THREADS", 1, 256, s.threads);
  read.Int("http.maxConnections", "IOT_HTTP_MAX_CONNECTIONS", 1, 1000000, s.max_connections);
  read.Int("http.headerLimitBytes", nullptr, 1024, 1 << 20, s.header_limit);
  read.Int("http.bodyLimitBytes", "IOT_HTTP_BODY_LIMIT", 1024, 1LL << 30, s.body_limit);
  read.Int("http.importBodyLimitBytes", "IOT_HTTP_IMPORT_BODY_LIMIT", 1024, 1LL << 30, s.import_body_limit);
  read.Int("firmwareMaxBytes", "IOT_FIRMWARE_MAX_BYTES", 1, 1LL << 40, s.streamed_body_limit);
  long long read_ms = s.read_timeout.count();
  long long write_ms = s.write_timeout.count();
  long long grace_ms = s.shutdown_grace.count();
  read.Int("http.readTimeoutMs", "IOT_HTTP_READ_TIMEOUT_MS", 100, 3600000, read_ms);
  read.Int("http.writeTimeoutMs", nullptr, 100, 3600000, write_ms);
  read.Int("http.shutdownGraceMs", nullptr, 0, 600000, grace_ms);
  s.read_timeout = std::chrono::milliseconds(read_ms);
  s.write_timeout = std::chrono::milliseconds(write_ms);
  s.shutdown_grace = std::chrono::milliseconds(grace_ms);
  read.Int("http.pipelineLimit", nullptr, 1, 1024, s.pipeline_limit);
  read.String("http.httpsBind", "IOT_HTTPS_BIND", s.https_bind_address);
  read.Int("http.httpsPort", "IOT_HTTPS_PORT", 0, 65535, s.https_port);
  read.String("http.opsBind", "IOT_OPS_BIND", s.ops_bind_address);
  read.Int("http.opsPort", "IOT_OPS_PORT", 0, 65535, s.ops_port);
  read.Int("http.maxConnectionsPerClient", "IOT_HTTP_MAX_CONNECTIONS_PER_CLIENT", 0, 1000000,
           s.max_connections_per_client);
  read.String("publicBaseUrl", "IOT_PUBLIC_BASE_URL", config.public_base_url);
  read.String("http.tlsCert", "IOT_TLS_CERT", s.tls_cert_file);
  read.String("http.tlsKey", "IOT_TLS_KEY", s.tls_key_file);
  read.String("pgDsn", "IOT_PG_DSN", config.pg_dsn);
  read.String("logLevel", "IOT_LOG_LEVEL", config.log_level);
  read.String("logFormat", "IOT_LOG_FORMAT", config.log_format);
  read.Int("pgPoolThreads", "IOT_PG_POOL_THREADS", 1, 64, config.db_threads);
  read.Int("pgPoolQueue", "IOT_PG_POOL_QUEUE", 1, 1000000, config.db_queue_capacity);
  read.String("mqttHost", "IOT_MQTT_HOST", config.mqtt_host);
  read.Int("mqttPort", "IOT_MQTT_PORT", 1, 65535, config.mqtt_port);
  read.String("mqttUsername", "IOT_MQTT_USERNAME", config.control.mqtt_username);
  read.String("", "IOT_MQTT_PASSWORD", config.control.mqtt_password);
  read.String("mqttClientId", "IOT_MQTT_CLIENT_ID", config.control.mqtt_client_id);
  read.Int("downlinkRatePerDevice", "IOT_DOWNLINK_RATE", 0, 100000, config.control.downlink_rate);
  read.Int("deviceQueueLimit", "IOT_DEVICE_QUEUE_LIMIT", 1, 1000000, config.control.queue_limit);
  read.Int("scriptCpuMs", "IOT_SCRIPT_CPU_MS", 1, 10000, config.control.script_cpu_ms);
  read.Int("scriptMemoryMb", "IOT_SCRIPT_MEMORY_MB", 1, 1024, config.control.script_memory_mb);
  read.Int("onlineGraceMs", "IOT_ONLINE_GRACE_MS", 0, 60000, config.control.online_grace_ms);
  read.Int("broadcastRatePerProduct", "IOT_BROADCAST_RATE", 1, 1000, config.control.broadcast_rate);
  read.Int("deviceMessagesMax", "IOT_DEVICE_MESSAGES_MAX", 1, 10000000, config.control.messages_per_device);
  read.String("dryRunDsn", "IOT_DRY_RUN_DSN", config.dry_run_dsn);
  read.Int("dryRunRowsPerS", "IOT_DRY_RUN_ROWS_PER_S", 0, 10000000, config.dry_run_rows_per_s);
  read.Int("registrationRatePerProduct", "IOT_REGISTRATION_RATE", 0, 100000, config.registration_rate);
  read.Int("maintenanceIntervalS", "IOT_MAINTENANCE_INTERVAL_S", 0, 86400, config.maintenance_interval_s);
  read.Int("rollupIntervalS", "IOT_ROLLUP_INTERVAL_S", 0, 3600, config.rollup_interval_s);
  read.Int("rollupRetentionDays", "IOT_ROLLUP_RETENTION_DAYS", 1, 36500, config.rollup_retention_days);
  read.Int("compactionIntervalS", "IOT_COMPACTION_INTERVAL_S", 0, 86400, config.compaction_interval_s);
  read.Int("streamQueueMessages", "IOT_STREAM_QUEUE_MESSAGES", 1, 1000000, config.stream_queue_messages);
  read.Int("streamQueueBytes", "IOT_STREAM_QUEUE_BYTES", 1024, 1LL << 30, config.stream_queue_bytes);
  read.String("openapiPath", "IOT_OPENAPI_PATH", config.openapi_path);
  read.String("webDir", "IOT_WEB_DIR", config.web_dir);
  read.String("", "IOT_ADMIN_TOKEN", config.admin_token);
  read.Int("tokenCacheMs", "IOT_TOKEN_CACHE_MS", 0, 600000, config.token_cache_ms);
  read.Int("tokenCacheEntries", "IOT_TOKEN_CACHE_ENTRIES", 1, 1000000, config.token_cache_entries);
  read.Int("authFailuresPerMinute", "IOT_AUTH_FAILURES_PER_MIN", 0, 1000000, config.auth_failures_per_minute);
  read.Int("tokenDefaultTtlDays", "IOT_TOKEN_DEFAULT_TTL_DAYS", 0, 36500, config.token_default_ttl_days);
  read.String("trustedProxies", "IOT_TRUSTED_PROXIES", proxies);
}

}  // namespace

Config LoadConfig(const std::string& config_path, const EnvLookup& env) {
  std::vector<std::string> problems;
  const nlohmann::json file = ReadConfigFile(config_path);
  Config config;
  config.web_dir = DefaultWebDir();  // openapi_path stays empty: the embedded document
  ServerSettings& s = config.http;
  ConfigReader read(file, env, problems);
  std::string proxies;
  ReadSettings(read, config, proxies);
  if (!config_path.empty()) {
    read.RefuseUnread(config_path + ": ");
  }
  for (std::size_t at = 0; at <= proxies.size();) {
    auto comma = proxies.find(',', at);
    if (comma == std::string::npos) {
      comma = proxies.size();
    }
    std::string one = proxies.substr(at, comma - at);
    one.erase(0, one.find_first_not_of(" \t"));
    one.erase(one.find_last_not_of(" \t") + 1);
    if (!one.empty()) {
      if (!ValidProxyEntry(one)) {
        problems.push_back("trustedProxies / IOT_TRUSTED_PROXIES: not an IP address or network: " + one);
      } else {
        s.trusted_proxies.push_back(one);
      }
    }
    at = comma + 1;
  }

  unsigned char addr[16];
  const std::pair<const char*, const std::string*> binds[] = {
      {"http.bind / IOT_HTTP_BIND", &s.bind_address},
      {"http.httpsBind / IOT_HTTPS_BIND", &s.https_bind_address},
      {"http.opsBind / IOT_OPS_BIND", &s.ops_bind_address}};
  for (const auto& [what, address] : binds) {
    if (inet_pton(AF_INET, address->c_str(), addr) != 1 && inet_pton(AF_INET6, address->c_str(), addr) != 1) {
      problems.push_back(std::string(what) + ": not an IP address: " + *address);
    }
  }
  if (!config.public_base_url.empty() && config.public_base_url.rfind("https://", 0) != 0 &&
      config.public_base_url.rfind("http://", 0) != 0) {
    problems.push_back("publicBaseUrl / IOT_PUBLIC_BASE_URL: must start with https:// or http://");
  }
  while (!config.public_base_url.empty() && config.public_base_url.back() == '/') {
    config.public_base_url.pop_back();
  }
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    problems.push_back("TLS needs both a certificate and a key (IOT_TLS_CERT, IOT_TLS_KEY)");
  }
  for (const std::string* file_path : {&s.tls_cert_file, &s.tls_key_file, &config.openapi_path}) {
    if (!file_path->empty() && !std::ifstream(*file_path)) {
      problems.push_back("cannot read file " + *file_path);
    }
  }
  log::Level level{};
  if (!log::ParseLevel(config.log_level, level)) {
    problems.push_back("logLevel / IOT_LOG_LEVEL: must be debug, info, warn or error");
  }
  log::Format format{};
  if (!log::ParseFormat(config.log_format, format)) {
    problems.push_back("logFormat / IOT_LOG_FORMAT: must be logfmt or json");
  }
  if (!config.admin_token.empty() && config.admin_token.size() < 16) {
    problems.push_back("IOT_ADMIN_TOKEN: must be at least 16 characters");
  }
  if (!problems.empty()) {
    throw ConfigError(problems);
  }
  return config;
}

std::vector<std::string> ConfigFileKeys() {
  const nlohmann::json empty = nlohmann::json::object();
  std::vector<std::string> problems;
  ConfigReader read(empty, {}, problems);
  Config config;
  std::string proxies;
  ReadSettings(read, config, proxies);
  return read.Keys();
}

}  // namespace iot::api

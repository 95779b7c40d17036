// iot-api: wiring only. Reads config, builds the object graph, serves until SIGTERM/SIGINT.
// Exit codes: 0 clean shutdown, 2 bad configuration, 1 failure to start.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/background.hpp"
#include "app/dry_run.hpp"
#include "app/store_authenticator.hpp"
#include "app/stream_feed.hpp"
#include "config.hpp"
#include "control/control_service.hpp"
#include "control/mqtt_link.hpp"
#include "handlers/common.hpp"
#include "handlers/console.hpp"
#include "http/auth.hpp"
#include "http/dispatcher.hpp"
#include "http/metrics.hpp"
#include "http/operations.hpp"
#include "http/router.hpp"
#include "openapi_document.hpp"
#include "iot/cli/command_line.hpp"
#include "iot/common/log.hpp"
#include "iot/common/log_format.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/pool.hpp"
#include "iot/store/tokens.hpp"
#include "transport/server.hpp"

namespace {

constexpr std::string_view kLog = "api.main";

void AddPoolGauges(iot::api::MetricsRegistry& metrics, const iot::store::DbPool& pool) {
  using Stats = iot::store::PoolStats;
  auto gauge = [&](const char* name, const char* help, double (*read)(const Stats&)) {
    metrics.AddGaugeCallback(name, help, [&pool, read] { return read(pool.Stats()); });
  };
  gauge("iot_db_pool_threads", "DB pool worker threads",
        [](const Stats& s) { return double(s.threads); });
  gauge("iot_db_pool_busy", "DB pool workers running a task",
        [](const Stats& s) { return double(s.busy); });
  gauge("iot_db_pool_connected", "DB pool workers with a live connection",
        [](const Stats& s) { return double(s.connected); });
  gauge("iot_db_pool_queue_depth", "DB tasks waiting for a worker",
        [](const Stats& s) { return double(s.queue_depth); });
  gauge("iot_db_pool_queue_capacity", "DB task queue capacity",
        [](const Stats& s) { return double(s.queue_capacity); });
  gauge("iot_db_pool_rejected", "DB tasks refused because the queue was full (since start)",
        [](const Stats& s) { return double(s.rejected); });
  gauge("iot_db_pool_completed", "DB tasks completed (since start)",
        [](const Stats& s) { return double(s.completed); });
}

std::string DefaultClientId() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::string("iot-api-") + host + "-" + std::to_string(::getpid());
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  if (auto exit_code = iot::cli::ParseServiceCommandLine(
          argc, argv, "iot-api", "The REST API, web console and device control of the IoT platform.", path)) {
    return *exit_code;
  }
  iot::api::Config config;
  try {
    config = iot::api::LoadConfig(path, [](const char* name) { return std::getenv(name); });
  } catch (const iot::api::ConfigError& e) {
    IOT_LOG_ERROR(kLog, "msg=\"invalid configuration\" error=" << iot::log::Quote(e.what()));
    return 2;
  }
  iot::log::Level level{};
  iot::log::ParseLevel(config.log_level, level);
  iot::log::SetLevel(level);
  iot::log::Format format = iot::log::Format::kLogfmt;
  iot::log::ParseFormat(config.log_format, format);
  iot::log::SetFormat(format);

  const std::string& plain_bind = config.http.bind_address;
  if (plain_bind.rfind("127.", 0) != 0 && plain_bind != "::1") {
    IOT_LOG_WARN(kLog, "msg=\"plain HTTP is open to the network: bearer tokens travel in clear; keep "
                       "IOT_HTTP_BIND on loopback and use HTTPS (IOT_TLS_CERT/IOT_TLS_KEY) instead\" bind="
                           << plain_bind);
  }
  if (config.pg_dsn.empty()) {
    IOT_LOG_ERROR(kLog, "msg=\"IOT_PG_DSN (or pgDsn in the config file) is required\"");
    return 2;
  }

  try {
    // Schema first: migrate an older database, refuse a newer one.
    iot::store::Migrator migrator(config.pg_dsn);
    auto migrated = migrator.Migrate();
    if (!migrated) {
      IOT_LOG_ERROR(kLog, "msg=\"database schema not usable\" why=" << iot::log::Quote(migrator.LastError()));
      return 1;
    }
    if (!migrated->applied.empty()) {
      IOT_LOG_INFO(kLog, "msg=\"schema migrated\" from=" << migrated->from_version
                                                         << " to=" << migrated->to_version);
    }

    iot::store::PoolSettings pool_settings;
    pool_settings.db.dsn = config.pg_dsn;
    pool_settings.db.application_name = "iot-api";
    pool_settings.threads = config.db_threads;
    pool_settings.queue_capacity = config.db_queue_capacity;
    iot::store::DbPool pool(pool_settings);

    if (!config.admin_token.empty()) {
      iot::store::Db db(pool_settings.db);
      auto ensured = iot::store::EnsureToken(db, config.admin_token, "bootstrap-admin",
                                             iot::store::Role::kAdmin);
      if (!ensured) {
        IOT_LOG_ERROR(kLog, "msg=\"cannot store the bootstrap admin token\" error="
                                << iot::log::Quote(ensured.error().message()));
        return 1;
      }
      if (ensured->revoked) {
        IOT_LOG_WARN(kLog, "msg=\"the bootstrap admin token (IOT_ADMIN_TOKEN) was revoked and stays "
                           "revoked: set a new IOT_ADMIN_TOKEN to get an admin token again\"");
      }
    } else {
      IOT_LOG_WARN(kLog, "msg=\"IOT_ADMIN_TOKEN is not set: only tokens already in the database work\"");
    }

    iot::api::MetricsRegistry metrics;
    AddPoolGauges(metrics, pool);
    // Every token, the bootstrap admin's included, is looked up (hashed) in PostgreSQL on the pool and
    // cached briefly while the token LISTEN connection is up, so revoking any of them takes effect at
    // once here and within a second on every other instance.
    iot::api::TokenCacheSettings token_settings;
    token_settings.ttl = std::chrono::milliseconds(config.token_cache_ms);
    token_settings.failures_per_minute = config.auth_failures_per_minute;
    token_settings.listen_db = pool_settings.db;
    token_settings.listen_db.application_name = "iot-api-tokens";
    iot::api::StoreAuthenticator authenticator(pool, token_settings);
    iot::api::Router router(authenticator);
    iot::api::HandlerContext context{.pool = pool, .registration_rate = config.registration_rate};
    context.script_limits.cpu_time = std::chrono::milliseconds(config.control.script_cpu_ms);
    context.script_limits.memory_bytes = static_cast<std::size_t>(config.control.script_memory_mb) << 20;
    context.token_revoked = [&authenticator](std::int64_t id) { authenticator.Revoked(id); };
    context.default_token_ttl_ms = std::int64_t{config.token_default_ttl_days} * 24 * 3600 * 1000;
    context.public_base_url = config.public_base_url;
    // Device control: the API's own broker session publishes commands and takes RRPC answers.
    std::unique_ptr<iot::api::ControlService> control;
    std::unique_ptr<iot::api::MqttLink> mqtt_link;
    if (!config.mqtt_host.empty()) {
      iot::api::MqttLinkSettings link_settings;
      link_settings.uri = "tcp://" + config.mqtt_host + ":" + std::to_string(config.mqtt_port);
      link_settings.client_id = config.control.mqtt_client_id.empty() ? DefaultClientId()
                                                                      : config.control.mqtt_client_id;
      link_settings.username = config.control.mqtt_username;
      link_settings.password = config.control.mqtt_password;
      mqtt_link = std::make_unique<iot::api::MqttLink>(
          link_settings, [&control](const std::string& topic, const std::string& payload) {
            control->OnMessage(topic, payload);  // started only after `control` exists
          });
      iot::api::ControlSettings control_settings;
      control_settings.downlink_rate = config.control.downlink_rate;
      control_settings.queue_limit = config.control.queue_limit;
      control_settings.online_grace = std::chrono::milliseconds(config.control.online_grace_ms);
      control_settings.db = pool_settings.db;
      control_settings.script_limits = context.script_limits;
      control_settings.db.application_name = "iot-api-control";
      control = std::make_unique<iot::api::ControlService>(pool, *mqtt_link, control_settings);
      context.control = control.get();
    } else {
      IOT_LOG_WARN(kLog, "msg=\"IOT_MQTT_HOST is not set: device control answers 503\"");
    }
    // Thing-model dry runs: one job at a time on a thread and connections of their own.
    iot::api::DryRunSettings dry_run_settings;
    dry_run_settings.write_db = pool_settings.db;
    dry_run_settings.write_db.application_name = "iot-api-dry-run";
    dry_run_settings.read_db = dry_run_settings.write_db;
    if (!config.dry_run_dsn.empty()) dry_run_settings.read_db.dsn = config.dry_run_dsn;
    dry_run_settings.rows_per_second = config.dry_run_rows_per_s;
    iot::api::DryRunner dry_runner(dry_run_settings);
    context.dry_runs = &dry_runner;
    iot::api::AddResourceRoutes(router, context);

    iot::api::BackgroundSettings background_settings;
    background_settings.mqtt_host = config.mqtt_host;
    background_settings.mqtt_port = config.mqtt_port;
    background_settings.maintenance_interval = std::chrono::seconds(config.maintenance_interval_s);
    background_settings.maintenance_db = pool_settings.db;
    background_settings.maintenance_db.application_name = "iot-api-maintenance";
    iot::api::Background background(pool, background_settings);
    iot::api::Readiness readiness;
    background.AddProbes(readiness);
    iot::api::AddOperationsRoutes(router, readiness, metrics, iot::api::LoadOpenApiDocument(config.openapi_path));
    const auto console_files = iot::api::ConsoleFiles::Load(config.web_dir);
    iot::api::AddConsoleRoutes(router, console_files);
    iot::api::Dispatcher dispatcher(router, metrics);

    // Live stream: one LISTEN connection of its own feeds the WebSocket clients.
    iot::store::DbSettings stream_db = pool_settings.db;
    stream_db.application_name = "iot-api-stream";
    iot::api::StreamRuntime stream(
        pool, authenticator, stream_db,
        {.queue = {config.stream_queue_messages, config.stream_queue_bytes}}, metrics);
    iot::api::Server server(config.http, dispatcher, metrics);
    server.SetStream(stream.Service());
    // Open streams close (4401) when their token is revoked or expires.
    authenticator.SetRevocationObserver([&stream](std::optional<std::int64_t> revoked) {
      stream.Service().CloseTokens(revoked, iot::NowMs());
    });
    authenticator.SetOpenTokens([&stream] { return stream.Service().OpenTokenIds(); });
    authenticator.Start();
    stream.Start();
    background.Start();
    dry_runner.Start();
    if (control) {
      control->Start();
      mqtt_link->Start();
    }
    server.Start();
    server.Run();  // returns after SIGTERM/SIGINT once in-flight requests finished
    authenticator.Stop();
    stream.Stop();
    if (control) {
      mqtt_link->Stop();
      control->Stop();
    }
    dry_runner.Stop();
    background.Stop();
    pool.Stop();
  } catch (const std::exception& e) {
    IOT_LOG_ERROR(kLog, "msg=\"fatal\" what=" << iot::log::Quote(e.what()));
    return 1;
  }
  return 0;
}

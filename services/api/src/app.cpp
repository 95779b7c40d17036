#include "app.hpp"

#include <unistd.h>

#include <iostream>

#include "auth/store_authenticator.hpp"
#include "control/control_service.hpp"
#include "control/message_service.hpp"
#include "control/mqtt_link.hpp"
#include "handlers/common.hpp"
#include "handlers/console.hpp"
#include "http/dispatcher.hpp"
#include "http/metrics.hpp"
#include "http/operations.hpp"
#include "http/router.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/pool.hpp"
#include "iot/store/tokens.hpp"
#include "jobs/background.hpp"
#include "jobs/dry_run.hpp"
#include "jobs/model_watcher.hpp"
#include "jobs/ota_driver.hpp"
#include "openapi_document.hpp"
#include "stream/feed.hpp"
#include "transport/server.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.main";

void AddPoolGauges(MetricsRegistry& metrics, const store::DbPool& pool) {
  using Stats = store::PoolStats;
  auto gauge = [&](const char* name, const char* help, double (*read)(const Stats&)) {
    metrics.AddGaugeCallback(name, help, [&pool, read] { return read(pool.Stats()); });
  };
  gauge("iot_db_pool_threads", "DB pool worker threads", [](const Stats& s) { return double(s.threads); });
  gauge("iot_db_pool_busy", "DB pool workers running a task", [](const Stats& s) { return double(s.busy); });
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
  if (::gethostname(host, sizeof(host) - 1) != 0) {
    host[0] = '\0';
  }
  return std::string("iot-api-") + host + "-" + std::to_string(::getpid());
}

store::DbSettings DbOf(const Config& config, std::string application_name) {
  store::DbSettings db;
  db.dsn = config.pg_dsn;
  db.application_name = std::move(application_name);
  return db;
}

store::PoolSettings PoolSettingsOf(const Config& config) {
  store::PoolSettings settings;
  settings.db = DbOf(config, "iot-api");
  settings.threads = config.db_threads;
  settings.queue_capacity = config.db_queue_capacity;
  return settings;
}

// Every token, the bootstrap admin's included, is looked up (hashed) in PostgreSQL on the pool and
// cached briefly while the token LISTEN connection is up, so revoking any of them takes effect at
// once here and within a second on every other instance.
TokenCacheSettings TokenSettingsOf(const Config& config) {
  TokenCacheSettings settings;
  settings.ttl = std::chrono::milliseconds(config.token_cache_ms);
  settings.max_entries = static_cast<std::size_t>(config.token_cache_entries);
  settings.failures_per_minute = config.auth_failures_per_minute;
  settings.listen_db = DbOf(config, "iot-api-tokens");
  return settings;
}

HandlerContext ContextOf(const Config& config, store::DbPool& pool, StoreAuthenticator& authenticator) {
  HandlerContext context{.pool = pool, .registration_rate = config.registration_rate};
  context.script_limits.cpu_time = std::chrono::milliseconds(config.control.script_cpu_ms);
  context.script_limits.memory_bytes = static_cast<std::size_t>(config.control.script_memory_mb) << 20;
  context.token_revoked = [&authenticator](std::int64_t id) { authenticator.Revoked(id); };
  context.default_token_ttl_ms = std::int64_t{config.token_default_ttl_days} * 24 * 3600 * 1000;
  context.public_base_url = config.public_base_url;
  context.firmware_max_bytes = static_cast<std::int64_t>(config.http.streamed_body_limit);
  return context;
}

// Thing-model dry runs: one job at a time on a thread and connections of their own.
DryRunSettings DryRunSettingsOf(const Config& config) {
  DryRunSettings settings;
  settings.write_db = DbOf(config, "iot-api-dry-run");
  settings.read_db = settings.write_db;
  if (!config.dry_run_dsn.empty()) {
    settings.read_db.dsn = config.dry_run_dsn;
  }
  settings.rows_per_second = config.dry_run_rows_per_s;
  return settings;
}

BackgroundSettings BackgroundSettingsOf(const Config& config) {
  BackgroundSettings settings;
  settings.mqtt_host = config.mqtt_host;
  settings.mqtt_port = config.mqtt_port;
  settings.maintenance_interval = std::chrono::seconds(config.maintenance_interval_s);
  settings.maintenance_db = DbOf(config, "iot-api-maintenance");
  settings.rollup_interval = std::chrono::seconds(config.rollup_interval_s);
  settings.rollup_db = DbOf(config, "iot-api-rollups");
  settings.rollup.retention_days = config.rollup_retention_days;
  settings.compaction_interval = std::chrono::seconds(config.compaction_interval_s);
  settings.compaction_db = DbOf(config, "iot-api-compaction");
  settings.messages_per_device = config.control.messages_per_device;
  return settings;
}

// Schema first: migrate an older database, refuse a newer one.
bool MigrateSchema(const Config& config) {
  store::Migrator migrator(config.pg_dsn);
  auto migrated = migrator.Migrate();
  if (!migrated) {
    IOT_LOG_ERROR(kLog, "msg=\"database schema not usable\" why=" << log::Quote(migrator.LastError()));
    return false;
  }
  if (!migrated->applied.empty()) {
    IOT_LOG_INFO(kLog,
                 "msg=\"schema migrated\" from=" << migrated->from_version << " to=" << migrated->to_version);
  }
  return true;
}

bool EnsureAdminToken(const Config& config) {
  if (config.admin_token.empty()) {
    IOT_LOG_WARN(kLog, "msg=\"IOT_ADMIN_TOKEN is not set: only tokens already in the database work\"");
    return true;
  }
  store::Db db(DbOf(config, "iot-api"));
  auto ensured = store::EnsureToken(db, config.admin_token, "bootstrap-admin", store::Role::kAdmin);
  if (!ensured) {
    IOT_LOG_ERROR(kLog, "msg=\"cannot store the bootstrap admin token\" error="
                            << log::Quote(ensured.error().message()));
    return false;
  }
  if (ensured->revoked) {
    IOT_LOG_WARN(kLog,
                 "msg=\"the bootstrap admin token (IOT_ADMIN_TOKEN) was revoked and stays "
                 "revoked: set a new IOT_ADMIN_TOKEN to get an admin token again\"");
  }
  return true;
}

}  // namespace

// Members in construction order: each refers only to members above it.
struct App::Parts {
  explicit Parts(const Config& config)
      : pool(PoolSettingsOf(config)),
        authenticator(pool, TokenSettingsOf(config)),
        router(authenticator),
        context(ContextOf(config, pool, authenticator)),
        dry_runner(DryRunSettingsOf(config)),
        background(pool, BackgroundSettingsOf(config)),
        console_files(ConsoleFiles::Load(config.web_dir)),
        dispatcher(router, metrics),
        stream(pool, authenticator, DbOf(config, "iot-api-stream"),
               {.queue = {config.stream_queue_messages, config.stream_queue_bytes}}, metrics),
        server(config.http, dispatcher, metrics) {
    AddPoolGauges(metrics, pool);
    if (!config.mqtt_host.empty()) {
      StartControl(config);
      context.products = &control->Products();
    } else {
      IOT_LOG_WARN(kLog, "msg=\"IOT_MQTT_HOST is not set: device control answers 503\"");
      models = std::make_unique<ModelWatcher>(DbOf(config, "iot-api-models"));
      context.products = &models->Products();
    }
    context.dry_runs = &dry_runner;
    context.metrics = &metrics;
    AddResourceRoutes(router, context);
    background.AddProbes(readiness);
    background.AddGauges(metrics);
    AddOperationsRoutes(router, readiness, metrics, LoadOpenApiDocument(config.openapi_path));
    AddConsoleRoutes(router, console_files);
    // Live stream: one LISTEN connection of its own feeds the WebSocket clients.
    server.SetStream(stream.Service());
    // Open streams close (4401) when their token is revoked or expires.
    authenticator.SetRevocationObserver(
        [this](std::optional<std::int64_t> revoked) { stream.Service().CloseTokens(revoked, NowMs()); });
    authenticator.SetOpenTokens([this] { return stream.Service().OpenTokenIds(); });
  }

  // Device control: the API's own broker session publishes commands and takes RRPC answers.
  void StartControl(const Config& config) {
    MqttLinkSettings link_settings;
    link_settings.uri = "tcp://" + config.mqtt_host + ":" + std::to_string(config.mqtt_port);
    link_settings.client_id =
        config.control.mqtt_client_id.empty() ? DefaultClientId() : config.control.mqtt_client_id;
    link_settings.username = config.control.mqtt_username;
    link_settings.password = config.control.mqtt_password;
    mqtt_link = std::make_unique<MqttLink>(
        link_settings, [this](const std::string& topic, const std::string& payload) {
          control->OnMessage(topic, payload);  // started only after `control` exists
          messages->OnMessage(topic, payload);
        });
    ControlSettings control_settings;
    control_settings.downlink_rate = config.control.downlink_rate;
    control_settings.queue_limit = config.control.queue_limit;
    control_settings.online_grace = std::chrono::milliseconds(config.control.online_grace_ms);
    control_settings.db = DbOf(config, "iot-api-control");
    control_settings.script_limits = context.script_limits;
    control = std::make_unique<ControlService>(pool, *mqtt_link, control_settings);
    context.control = control.get();
    context.downlink = mqtt_link.get();
    MessageSettings message_settings;
    message_settings.queue_limit = config.control.queue_limit;
    message_settings.broadcasts_per_second = config.control.broadcast_rate;
    message_settings.online_grace = control_settings.online_grace;
    messages = std::make_unique<MessageService>(pool, *mqtt_link, message_settings);
    context.messages = messages.get();
    control->AddSweeper([this](store::Db& db) { messages->Sweep(db); });
    // OTA jobs: pushed through the same broker link by whichever instance holds the lease.
    OtaDriverSettings ota_settings;
    ota_settings.db = DbOf(config, "iot-api-ota");
    ota_settings.holder = link_settings.client_id + "/" + std::to_string(::getpid());
    ota_settings.public_base_url = config.public_base_url;
    ota = std::make_unique<OtaDriver>(*mqtt_link, ota_settings);
  }

  void Start() {
    authenticator.Start();
    if (models) {
      models->Start();
    }
    stream.Start();
    background.Start();
    dry_runner.Start();
    if (control) {
      messages->Start();
      control->Start();
      mqtt_link->Start();
      ota->Start();
    }
    server.Start();
  }

  void Stop() {
    authenticator.Stop();
    if (models) {
      models->Stop();
    }
    stream.Stop();
    if (control) {
      ota->Stop();
      mqtt_link->Stop();
      control->Stop();
      messages->Stop();
    }
    dry_runner.Stop();
    background.Stop();
    pool.Stop();
  }

  MetricsRegistry metrics;
  store::DbPool pool;
  StoreAuthenticator authenticator;
  Router router;
  HandlerContext context;
  std::unique_ptr<ControlService> control;   // null without a broker (IOT_MQTT_HOST)
  std::unique_ptr<ModelWatcher> models;      // the published models' cache when `control` is null
  std::unique_ptr<MessageService> messages;  // likewise
  std::unique_ptr<MqttLink> mqtt_link;       // destroyed first: its callback calls `control`
  std::unique_ptr<OtaDriver> ota;            // null likewise; destroyed before `mqtt_link`, its link
  DryRunner dry_runner;
  Background background;
  Readiness readiness;
  ConsoleFiles console_files;
  Dispatcher dispatcher;
  StreamRuntime stream;
  Server server;
};

App::App(Config config) : config_(std::move(config)) {}

App::~App() { Stop(); }

std::optional<std::string> App::ConfigProblem(const Config& config) {
  if (config.pg_dsn.empty()) {
    return "IOT_PG_DSN (or pgDsn in the config file) is required";
  }
  return std::nullopt;
}

bool App::Start() {
  const std::string& plain_bind = config_.http.bind_address;
  if (plain_bind.rfind("127.", 0) != 0 && plain_bind != "::1") {
    IOT_LOG_WARN(kLog,
                 "msg=\"plain HTTP is open to the network: bearer tokens travel in clear; keep "
                 "IOT_HTTP_BIND on loopback and use HTTPS (IOT_TLS_CERT/IOT_TLS_KEY) instead\" bind="
                     << plain_bind);
  }
  if (!MigrateSchema(config_) || !EnsureAdminToken(config_)) {
    return false;
  }
  parts_ = std::make_unique<Parts>(config_);
  parts_->Start();
  return true;
}

void App::Run() {
  if (parts_) {
    parts_->server.Run();  // returns after SIGTERM/SIGINT once in-flight requests finished
  }
}

void App::Stop() {
  if (parts_) {
    parts_->Stop();
    parts_.reset();
  }
}

}  // namespace iot::api

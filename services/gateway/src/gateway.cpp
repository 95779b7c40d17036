#include "gateway.hpp"

#include <unistd.h>

#include <algorithm>

#include "iot/common/log.hpp"
#include "iot/store/alarms.hpp"
#include "iot/store/listener.hpp"

namespace iot::gateway {
namespace {

store::DbSettings DbFor(const Config& c, const char* role) {
  store::DbSettings s;
  s.dsn = c.pg_dsn;
  s.application_name = std::string("iot-gateway-") + role;
  return s;
}

MqttSettings MqttFor(const Config& c) {
  MqttSettings m;
  m.client.host = c.mqtt_host;
  m.client.port = c.mqtt_port;
  m.client.client_id = c.client_id;
  m.client.username = c.mqtt_username;
  m.client.password = c.mqtt_password;
  m.client.keepalive_s = c.keepalive_s;
  m.client.session_expiry_s = static_cast<std::uint32_t>(c.session_expiry_s);
  m.share_group = c.share_group;
  m.end_session_on_stop = c.end_session_on_stop == 1;
  m.reply_qos = c.reply_qos;
  m.high_water = static_cast<std::size_t>(c.queue_high);
  m.low_water = static_cast<std::size_t>(c.queue_low);
  return m;
}

PipelineSettings PipelineFor(const Config& c) {
  PipelineSettings p;
  p.workers = c.workers;
  p.writer_queue = static_cast<std::size_t>(c.writer_queue);
  p.batch_max = static_cast<std::size_t>(c.batch_max);
  p.batch_delay = std::chrono::milliseconds(c.batch_delay_ms);
  return p;
}

HandlerSettings HandlerFor(const Config& c, const ForwardRules* rules, const AlarmRules* alarms) {
  HandlerSettings h;
  h.forward_rules = rules;
  h.alarm_rules = alarms;
  h.rate_per_second = c.device_rate;
  h.script_limits.cpu_time = std::chrono::milliseconds(c.script_cpu_ms);
  h.script_limits.memory_bytes = static_cast<std::size_t>(c.script_memory_mb) << 20;
  h.script_budget_ms = c.script_budget_ms;
  h.public_base_url = c.public_base_url;
  return h;
}

std::vector<std::unique_ptr<StoreBackend>> BackendsFor(const Config& c) {
  std::vector<std::unique_ptr<StoreBackend>> backends;
  for (int i = 0; i < c.writers; ++i) {
    backends.push_back(std::make_unique<StoreBackend>(DbFor(c, "writer")));
  }
  return backends;
}

std::vector<Backend*> Pointers(const std::vector<std::unique_ptr<StoreBackend>>& backends) {
  std::vector<Backend*> out;
  for (const auto& b : backends) {
    out.push_back(b.get());
  }
  return out;
}

CacheSettings CacheFor(const Config& c) {
  CacheSettings s;
  s.max_devices = static_cast<std::size_t>(c.max_cached_devices);
  s.ttl = std::chrono::milliseconds(c.cache_ttl_ms);
  return s;
}

}  // namespace

Gateway::Gateway(const Config& config)
    : config_(config),
      source_(DbFor(config, "lookup")),
      directory_(source_, CacheFor(config)),
      rules_db_(DbFor(config, "rules")),
      backends_(BackendsFor(config)),
      ingress_(MqttFor(config), metrics_),
      pipeline_(PipelineFor(config), HandlerFor(config, &forward_rules_, &alarm_rules_), directory_,
                Pointers(backends_), ingress_, metrics_) {
  metrics_.queue_depth = [this] { return pipeline_.Held(); };
  metrics_.queue_capacity = [this] { return static_cast<std::size_t>(config_.queue_high); };
  metrics_.mqtt_connected = [this] { return ingress_.Connected(); };
  metrics_.database_ok = [this] { return database_ok_.load(); };
  if (config.forward == 1) {
    ForwarderSettings f;
    f.holder = config.client_id + "-" + std::to_string(::getpid());
    f.batch_max = config.forward_batch;
    f.timeout = std::chrono::milliseconds(config.forward_timeout_ms);
    f.max_attempts = config.forward_max_attempts;
    f.max_age_s = config.forward_max_age_s;
    f.retry_max = std::chrono::milliseconds(config.forward_retry_max_ms);
    f.retry_min = std::min(f.retry_min, f.retry_max);
    forwarder_ = std::make_unique<Forwarder>(DbFor(config, "forwarder"), f, metrics_);
  }
}

Gateway::~Gateway() { Stop(); }

bool Gateway::Start() {
  if (config_.metrics_port > 0) {
    metrics_server_ = std::make_unique<MetricsServer>(
        config_.metrics_bind, config_.metrics_port, [this] { return metrics_.Render(); },
        [this] { return ingress_.Connected(); },
        // Ready: connected to the broker and to the database.
        [this] { return ingress_.Connected() && database_ok_.load(); });
    if (!metrics_server_->Start()) {
      return false;
    }
  }
  listener_ = std::thread([this] { ListenLoop(); });
  pipeline_.Start();
  if (forwarder_) {
    forwarder_->Start();
  }
  ingress_.Start(pipeline_);
  IOT_LOG_INFO("gateway", "msg=\"started\" client_id="
                              << log::Quote(config_.client_id) << " workers=" << config_.workers
                              << " writers=" << config_.writers << " batch_max=" << config_.batch_max
                              << " queue_high=" << config_.queue_high << " queue_low=" << config_.queue_low
                              << " reply_qos=" << config_.reply_qos
                              << " device_rate=" << config_.device_rate);
  return true;
}

void Gateway::Stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  // Drain while still connected so the held messages are committed *and* answered; messages that
  // still arrive meanwhile are taken as far as the workers run. Then disconnect: the broker keeps
  // queueing for the persistent session until the next start.
  if (forwarder_) {
    forwarder_->RequestStop();  // an HTTP call in flight ends within IOT_FORWARD_TIMEOUT_MS
  }
  ingress_.StopSupervisor();
  if (config_.end_session_on_stop == 1) {
    ingress_.Unsubscribe();
    // What the broker dealt before the unsubscribe is already on the wire: let it arrive.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  pipeline_.Stop(std::chrono::seconds(10));
  ingress_.Stop();
  if (listener_.joinable()) {
    listener_.join();
  }
  if (forwarder_) {
    forwarder_->Stop();
  }
  if (metrics_server_) {
    metrics_server_->Stop();
  }
  IOT_LOG_INFO("gateway", "msg=\"stopped\"");
}

void Gateway::ListenLoop() {
  // Thing-model publishes, product changes (validation mode) and device changes (enabled, deleted)
  // invalidate the caches within one Poll interval; forwarding rule changes reload the rules.
  std::vector<std::string> channels = CachingDirectory::Channels();
  channels.emplace_back(store::kChannelForwardRule);
  channels.emplace_back(store::kChannelAlarmRule);
  bool rules_stale = true;
  bool alarms_stale = true;
  log::RateLimiter rules_noise(std::chrono::seconds(5));
  log::RateLimiter alarms_noise(std::chrono::seconds(5));
  auto rules_loaded = std::chrono::steady_clock::now();
  auto alarms_loaded = rules_loaded;
  auto next_sweep = rules_loaded;
  store::Listener listener(DbFor(config_, "listen"), channels,
                           [this, &rules_stale, &alarms_stale](const store::Notification& n) {
                             directory_.Apply(n);
                             if (n.resync || n.channel == store::kChannelForwardRule) {
                               rules_stale = true;
                             }
                             if (n.resync || n.channel == store::kChannelAlarmRule) {
                               alarms_stale = true;
                             }
                           });
  bool was_connected = true;
  while (!stopping_) {
    auto r = listener.Poll(std::chrono::milliseconds(250));
    if (!r && was_connected) {
      IOT_LOG_WARN("gateway",
                   "msg=\"change notifications unavailable\" error=" << log::Quote(r.error().message()));
    }
    was_connected = static_cast<bool>(r);
    database_ok_ = was_connected;
    // The rules: at start (the handlers wait for them), on a change, and every minute as a safety net.
    const auto now = std::chrono::steady_clock::now();
    if (rules_stale || now - rules_loaded > std::chrono::minutes(1)) {
      if (auto loaded = forward_rules_.Load(rules_db_); loaded) {
        rules_stale = false;
        rules_loaded = now;
      } else {
        IOT_LOG_LIMITED(rules_noise, log::Level::kWarn, "gateway",
                        "msg=\"forwarding rules not loaded\" error=" << log::Quote(loaded.error().message()));
      }
    }
    if (alarms_stale || now - alarms_loaded > std::chrono::minutes(1)) {
      if (auto loaded = alarm_rules_.Load(rules_db_); loaded) {
        alarms_stale = false;
        alarms_loaded = now;
      } else {
        IOT_LOG_LIMITED(alarms_noise, log::Level::kWarn, "gateway",
                        "msg=\"alarm rules not loaded\" error=" << log::Quote(loaded.error().message()));
      }
    }
    // "for N s" alarm conditions that held long enough without a post: raised by whichever gateway
    // sweeps first (the pending row is deleted by one of them).
    if (alarm_rules_.Any() && now >= next_sweep) {
      next_sweep = now + std::chrono::seconds(1);
      if (auto raised = store::SweepPendingAlarms(rules_db_); !raised) {
        IOT_LOG_LIMITED(alarms_noise, log::Level::kWarn, "gateway",
                        "msg=\"alarm sweep failed\" error=" << log::Quote(raised.error().message()));
      } else if (*raised > 0) {
        IOT_LOG_INFO("gateway", "msg=\"alarms raised by the sweep\" count=" << *raised);
      }
    }
  }
}

}  // namespace iot::gateway

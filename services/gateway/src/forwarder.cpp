#include "forwarder.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/json_text.hpp"
#include "iot/common/log.hpp"
#include "iot/http/client.hpp"
#include "iot/store/ota.hpp"

namespace iot::gateway {
namespace {

using Clock = std::chrono::steady_clock;

log::RateLimiter& Noise() {
  static log::RateLimiter limiter(std::chrono::seconds(5));
  return limiter;
}

class WebhookDestination final : public Destination {
 public:
  WebhookDestination(http::Url url, std::string secret, std::chrono::milliseconds timeout)
      : url_(std::move(url)), secret_(std::move(secret)) {
    options_.timeout = timeout;
    options_.max_body_bytes = std::size_t{64} * 1024;  // the answer is not read, only its status
  }

  Delivery Deliver(const std::vector<store::OutboxMessage>& batch) override {
    const std::string body = WebhookBody(batch);
    const std::string timestamp = std::to_string(NowMs());
    http::Headers headers{{"Content-Type", "application/json"}, {"X-Iot-Timestamp", timestamp}};
    if (!secret_.empty()) {
      headers.emplace_back("X-Iot-Signature", WebhookSignature(secret_, timestamp, body));
    }
    try {
      const auto response =
          http::Request(url_, "POST", url_.base_path.empty() ? "/" : "", headers, body, options_);
      const auto outcome = OutcomeOfStatus(response.status);
      if (outcome == Delivery::Outcome::kDelivered) {
        return {};
      }
      return Delivery{outcome, "webhook answered HTTP " + std::to_string(response.status)};
    } catch (const std::exception& e) {
      return Delivery{Delivery::Outcome::kRetry, e.what()};
    }
  }

 private:
  http::Url url_;
  std::string secret_;
  http::ClientOptions options_;
};

class BrokenDestination final : public Destination {
 public:
  explicit BrokenDestination(std::string why) : why_(std::move(why)) {}
  Delivery Deliver(const std::vector<store::OutboxMessage>&) override {
    return Delivery{Delivery::Outcome::kRetry, why_};
  }

 private:
  std::string why_;
};

std::string RuleLabel(std::int64_t id) { return std::to_string(id); }

}  // namespace

Delivery::Outcome OutcomeOfStatus(int status) {
  if (status >= 200 && status < 300) {
    return Delivery::Outcome::kDelivered;
  }
  if (status >= 400 && status < 500 && status != 408 && status != 429) {
    return Delivery::Outcome::kRefused;
  }
  return Delivery::Outcome::kRetry;
}

void AppendEnvelope(std::string& out, const store::OutboxMessage& m) {
  out += "{\"topic\":";
  AppendJsonString(out, m.topic);
  out += ",\"messageId\":";
  AppendJsonString(out, m.message_id);
  out += ",\"productKey\":";
  AppendJsonString(out, m.product_key);
  out += ",\"deviceName\":";
  AppendJsonString(out, m.device_name);
  out += ",\"iotId\":";
  AppendJsonString(out, m.iot_id);
  out += ",\"payload\":";
  out += m.payload_json;  // valid JSON: the gateway's serializer or PostgreSQL's jsonb output wrote it
  out.push_back('}');
}

std::string WebhookBody(const std::vector<store::OutboxMessage>& batch) {
  std::string out = "[";
  for (const auto& m : batch) {
    if (out.size() > 1) {
      out.push_back(',');
    }
    AppendEnvelope(out, m);
  }
  out.push_back(']');
  return out;
}

std::string AmqpRoutingKey(std::string_view topic) {
  while (!topic.empty() && topic.front() == '/') {
    topic.remove_prefix(1);
  }
  std::string key(topic.substr(0, 255));
  std::replace(key.begin(), key.end(), '/', '.');
  return key;
}

namespace {

void AppendBigEndian(std::string& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

// str32-utf8: 0xb1, length, bytes.
void AppendAmqp10String(std::string& out, std::string_view s) {
  out.push_back(static_cast<char>(0xb1));
  AppendBigEndian(out, s.size(), 4);
  out.append(s);
}

}  // namespace

std::string Amqp10AppProperties(std::string_view topic, std::string_view message_id,
                                std::int64_t generate_time) {
  std::string map;  // the map's elements: key, value, key, value, ...
  AppendAmqp10String(map, "topic");
  AppendAmqp10String(map, topic);
  AppendAmqp10String(map, "messageId");
  AppendAmqp10String(map, message_id);
  AppendAmqp10String(map, "generateTime");
  map.push_back(static_cast<char>(0x81));  // long
  AppendBigEndian(map, static_cast<std::uint64_t>(generate_time), 8);
  // Described type 0x74 (application-properties) over a map32: size (count field + elements), count.
  std::string out = {'\x00', '\x53', '\x74', static_cast<char>(0xd1)};
  AppendBigEndian(out, map.size() + 4, 4);
  AppendBigEndian(out, 6, 4);
  out += map;
  return out;
}

std::optional<std::string> MqttDestinationUri(std::string_view url) {
  struct Scheme {
    std::string_view prefix;
    std::string_view paho;
    std::string_view port;
  };
  static constexpr Scheme kSchemes[] = {{"mqtt://", "tcp://", "1883"},
                                        {"tcp://", "tcp://", "1883"},
                                        {"mqtts://", "ssl://", "8883"},
                                        {"ssl://", "ssl://", "8883"}};
  for (const auto& scheme : kSchemes) {
    if (url.substr(0, scheme.prefix.size()) != scheme.prefix) {
      continue;
    }
    std::string_view rest = url.substr(scheme.prefix.size());
    if (!rest.empty() && rest.back() == '/') {
      rest.remove_suffix(1);
    }
    if (rest.empty() || rest.front() == ':' || rest.find_first_of("/?#@ ") != std::string_view::npos) {
      return std::nullopt;
    }
    std::string out(scheme.paho);
    out += rest;
    // The port: after the last ':' unless that ':' is inside an IPv6 literal ("[::1]").
    const auto colon = rest.rfind(':');
    const auto bracket = rest.rfind(']');
    const bool has_port =
        colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
    if (has_port) {
      const auto port = rest.substr(colon + 1);
      if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
        return std::nullopt;
      }
    } else {
      out += ":";
      out += scheme.port;
    }
    return out;
  }
  return std::nullopt;
}

std::string WebhookSignature(std::string_view secret, std::string_view timestamp, std::string_view body) {
  std::string content;
  content.reserve(timestamp.size() + 1 + body.size());
  content.append(timestamp).append(".").append(body);
  return "sha256=" + alink::Sign(alink::SignMethod::kHmacSha256, secret, content);
}

PemFile::PemFile(const std::string& pem) {
  if (pem.empty()) {
    return;
  }
  std::error_code ec;
  const auto dir = std::filesystem::temp_directory_path(ec);  // $TMPDIR, else /tmp
  std::string path = (ec ? std::string("/tmp") : dir.string()) + "/iot-forward-ca-XXXXXX";
  const int fd = ::mkstemp(path.data());  // created 0600
  if (fd < 0) {
    throw std::runtime_error("could not write the destination's CA to " + path + ": " +
                             std::generic_category().message(errno));
  }
  std::size_t written = 0;
  while (written < pem.size()) {
    const ssize_t n = ::write(fd, pem.data() + written, pem.size() - written);
    if (n <= 0) {
      break;
    }
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  path_ = std::move(path);
  if (written < pem.size()) {
    ::unlink(path_.c_str());
    throw std::runtime_error("could not write the destination's CA to " + path_);
  }
}

PemFile::~PemFile() {
  if (!path_.empty()) {
    ::unlink(path_.c_str());
  }
}

std::vector<std::unique_ptr<Destination>> MakeDestinations(const std::string& destinations_json,
                                                           std::chrono::milliseconds timeout) {
  std::vector<std::unique_ptr<Destination>> out;
  auto list = nlohmann::json::parse(destinations_json, nullptr, false);
  if (!list.is_array() || list.empty()) {
    out.push_back(std::make_unique<BrokenDestination>("the rule has no destinations"));
    return out;
  }
  for (const auto& d : list) {
    const std::string type = d.is_object() ? d.value("type", "") : "";
    try {
      if (type == "webhook") {
        out.push_back(std::make_unique<WebhookDestination>(http::ParseUrl(d.value("url", "")),
                                                           d.value("secret", ""), timeout));
      } else if (type == "amqp") {
        out.push_back(
            MakeAmqpDestination(d.value("url", ""), d.value("exchange", ""), d.value("ca", ""), timeout));
      } else if (type == "mqtt") {
        auto uri = MqttDestinationUri(d.value("url", ""));
        if (!uri) {
          out.push_back(std::make_unique<BrokenDestination>("not an mqtt:// or mqtts:// URL"));
          continue;
        }
        out.push_back(MakeMqttDestination(*uri, d.value("topic", ""), d.value("username", ""),
                                          d.value("password", ""), d.value("ca", ""), timeout));
      } else {
        out.push_back(
            std::make_unique<BrokenDestination>("destination type \"" + type + "\" is not supported"));
      }
    } catch (const std::exception& e) {
      out.push_back(std::make_unique<BrokenDestination>(e.what()));
    }
  }
  return out;
}

Forwarder::Forwarder(store::DbSettings db, ForwarderSettings settings, Metrics& metrics)
    : db_(std::move(db)), settings_(std::move(settings)), metrics_(metrics) {}

Forwarder::~Forwarder() { Stop(); }

void Forwarder::Start() {
  if (!thread_.joinable()) {
    thread_ = std::thread([this] { Loop(); });
  }
}

void Forwarder::RequestStop() {
  stopping_ = true;
  std::lock_guard lock(mutex_);
  wake_.notify_all();
}

void Forwarder::Stop() {
  RequestStop();
  if (thread_.joinable()) {
    thread_.join();
  }
  for (const auto& [id, state] : states_) {
    if (state.held) {
      (void)store::ReleaseLease(db_, store::ForwardLeaseName(id), settings_.holder);
    }
  }
  states_.clear();
}

void Forwarder::Wait(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

bool Forwarder::Lease(std::int64_t rule_id, RuleState& state) {
  const auto now = Clock::now();
  if (now < state.lease_renew) {
    return state.held;
  }
  auto lease = store::AcquireLease(db_, store::ForwardLeaseName(rule_id), settings_.holder,
                                   settings_.lease_ttl.count());
  if (!lease) {
    state.held = false;
    state.lease_renew = now + std::chrono::seconds(1);
    return false;
  }
  const bool held = *lease == store::LeaseState::kHeld;
  if (held != state.held) {
    IOT_LOG_INFO("gateway",
                 "msg=\"forwarding rule " << (held ? "taken" : "held elsewhere") << "\" rule=" << rule_id);
  }
  state.held = held;
  // Renew at a third of the time to live; retry a lease held elsewhere every second.
  state.lease_renew = now + (held ? settings_.lease_ttl / 3 : std::chrono::milliseconds(1000));
  return held;
}

bool Forwarder::Serve(const store::ForwardRule& rule, RuleState& state) {
  const auto now = Clock::now();
  if (now < state.next_attempt || !Lease(rule.id, state)) {
    return false;
  }
  if (state.destinations.empty() || state.destinations_json != rule.destinations_json) {
    state.destinations_json = rule.destinations_json;
    state.destinations = MakeDestinations(rule.destinations_json, settings_.timeout);
  }
  auto cursor = store::GetForwardCursor(db_, rule.id);
  if (!cursor) {
    return false;  // deleted meanwhile, or the database is away
  }
  // After a failure the head message goes alone, so a message a destination refuses is found.
  const int limit = cursor->attempts > 0 ? 1 : std::max(1, settings_.batch_max);
  auto batch = store::ReadOutbox(db_, rule.id, *cursor, limit);
  if (!batch || batch->empty()) {
    return false;
  }
  Delivery result;
  for (auto& destination : state.destinations) {
    result = destination->Deliver(*batch);
    if (result.outcome != Delivery::Outcome::kDelivered) {
      break;
    }
  }
  const std::string label = RuleLabel(rule.id);
  const auto count = static_cast<double>(batch->size());
  if (result.outcome == Delivery::Outcome::kDelivered) {
    auto moved = store::AdvanceForwardCursor(db_, rule.id, settings_.holder, batch->back(),
                                             static_cast<std::int64_t>(batch->size()));
    if (!moved || *moved != store::CursorMove::kMoved) {
      state.held = false;  // lost the lease (or the database): another holder redelivers, at least once
      state.lease_renew = Clock::now();
      return false;
    }
    metrics_.registry.Increment("iot_forward_delivered_total", "Messages delivered, by forwarding rule",
                                {{"rule", label}}, count);
    return static_cast<int>(batch->size()) == limit;
  }
  metrics_.registry.Increment("iot_forward_failed_total", "Failed delivery attempts, by forwarding rule",
                              {{"rule", label}});
  IOT_LOG_LIMITED(Noise(), log::Level::kWarn, "gateway",
                  "msg=\"forwarding failed\" rule=" << rule.id << " messages=" << batch->size()
                                                    << " error=" << log::Quote(result.error));
  auto failed = store::RecordForwardFailure(db_, rule.id, settings_.holder, result.error);
  if (!failed) {
    state.held = false;
    state.lease_renew = Clock::now();
    return false;
  }
  const bool refused = result.outcome == Delivery::Outcome::kRefused;
  if (refused && batch->size() > 1) {
    state.next_attempt = Clock::now();  // find the refused one: the next attempts carry one message
    return false;
  }
  const bool too_many = settings_.max_attempts > 0 && failed->attempts >= settings_.max_attempts;
  const bool too_old = settings_.max_age_s > 0 && failed->failing_since &&
                       NowMs() - *failed->failing_since >= settings_.max_age_s * 1000;
  if (refused || too_many || too_old) {
    auto dead =
        store::DeadLetterForward(db_, rule.id, settings_.holder, *batch, failed->attempts, result.error);
    if (dead && *dead == store::CursorMove::kMoved) {
      IOT_LOG_WARN("gateway", "msg=\"forwarded messages moved to dead letters\" rule="
                                  << rule.id << " messages=" << batch->size() << " attempts="
                                  << failed->attempts << " error=" << log::Quote(result.error));
      metrics_.registry.Increment("iot_forward_dead_total",
                                  "Messages moved to dead letters, by forwarding rule", {{"rule", label}},
                                  count);
      state.next_attempt = Clock::now();
      return true;
    }
  }
  // Backoff: retry_min doubling per failed attempt, at most retry_max.
  auto delay = settings_.retry_min;
  for (int i = 1; i < failed->attempts && delay < settings_.retry_max; ++i) {
    delay *= 2;
  }
  state.next_attempt = Clock::now() + std::min(delay, settings_.retry_max);
  return false;
}

void Forwarder::UpdateLag(const std::vector<store::ForwardRule>& rules) {
  for (const auto& rule : rules) {
    auto it = states_.find(rule.id);
    if (it == states_.end() || !it->second.held) {
      continue;  // its holder reports it
    }
    auto status = store::GetForwardStatus(db_, rule.id);
    if (!status) {
      continue;
    }
    const std::string label = RuleLabel(rule.id);
    metrics_.registry.SetGauge("iot_forward_lag_messages", "Messages not yet delivered, by forwarding rule",
                               {{"rule", label}}, static_cast<double>(status->lag_messages));
    metrics_.registry.SetGauge("iot_forward_lag_seconds",
                               "Age of the oldest message not yet delivered, by forwarding rule",
                               {{"rule", label}}, status->lag_seconds);
  }
}

void Forwarder::Loop() {
  constexpr int kPruneLimit = 10000;
  std::vector<store::ForwardRule> rules;
  auto next_rules = Clock::now();
  auto next_prune = Clock::now() + settings_.prune_interval;
  auto next_lag = Clock::now();
  while (!stopping_) {
    const auto now = Clock::now();
    if (now >= next_rules) {
      auto loaded = store::ListForwardRules(db_);
      if (loaded) {
        rules.clear();
        for (auto& rule : *loaded) {
          if (rule.enabled) {
            rules.push_back(std::move(rule));
          }
        }
        // Forget rules that are gone or disabled (their lease expires; another holder may take them).
        for (auto it = states_.begin(); it != states_.end();) {
          const bool kept =
              std::any_of(rules.begin(), rules.end(), [&](const auto& r) { return r.id == it->first; });
          it = kept ? std::next(it) : states_.erase(it);
        }
      } else {
        IOT_LOG_LIMITED(Noise(), log::Level::kWarn, "gateway",
                        "msg=\"forwarding rules not loaded\" error=" << log::Quote(loaded.error().message()));
      }
      next_rules = now + std::chrono::seconds(1);
    }
    bool busy = false;
    for (const auto& rule : rules) {
      if (stopping_) {
        break;
      }
      busy |= Serve(rule, states_[rule.id]);
    }
    if (now >= next_prune) {
      // A prune that deleted its limit means more is waiting: again next round (when slots cannot be
      // truncated, rows go by deletes, and a fast outbox would outgrow a limited prune every interval).
      auto pruned = store::PruneOutbox(db_, settings_.slot_age, kPruneLimit);
      const bool more = pruned && *pruned >= kPruneLimit;
      busy |= more;
      next_prune = more ? now : now + settings_.prune_interval;
    }
    if (now >= next_lag) {
      UpdateLag(rules);
      next_lag = now + std::chrono::seconds(5);
    }
    if (!busy) {
      Wait(settings_.poll);
    }
  }
  // Closing a destination may block (AMQP, MQTT goodbyes): here, on this thread, not in Stop's caller.
  for (auto& [id, state] : states_) {
    state.destinations.clear();
  }
}

}  // namespace iot::gateway

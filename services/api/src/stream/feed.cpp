#include "stream/feed.hpp"

#include <chrono>
#include <memory>

#include "http/metrics.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/json_text.hpp"
#include "iot/common/log.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/products.hpp"
#include "stream/protocol.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.stream";
constexpr std::size_t kMaxCachedDevices = 200000;  // then the cache starts over
constexpr auto kPollTimeout = std::chrono::milliseconds(100);
constexpr auto kGateGiveUp = std::chrono::seconds(5);  // confirm anyway (the database is away)

std::string_view TypeName(store::StreamKind kind) {
  switch (kind) {
    case store::StreamKind::kProperty: return "property";
    case store::StreamKind::kEvent: return "event";
    case store::StreamKind::kRejection: return "rejection";
    case store::StreamKind::kServiceCall: return "serviceCall";
    case store::StreamKind::kAlarm: return "alarm";
  }
  return "property";
}

}  // namespace

StreamFeed::StreamFeed(store::DbSettings db, stream::Hub& hub)
    : db_settings_(std::move(db)), hub_(hub), db_(db_settings_) {}

StreamFeed::~StreamFeed() { Stop(); }

void StreamFeed::Start() {
  thread_ = std::thread([this] { Run(); });
}

void StreamFeed::Stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void StreamFeed::Run() {
  store::Listener listener(
      db_settings_, {store::kChannelStream, store::kChannelDeviceStatus},
      [this](const store::Notification& n) { OnNotification(n); }, store::kStreamPresenceLockKey);
  bool was_connected = false;
  while (!stopping_) {
    auto polled = listener.Poll(kPollTimeout);
    const bool now_connected = static_cast<bool>(polled) && listener.IsConnected();
    if (now_connected != was_connected) {
      IOT_LOG_INFO(kLog, "msg=\"stream listener " << (now_connected ? "connected" : "disconnected") << "\"");
      was_connected = now_connected;
    }
    connected_ = now_connected;
    // Hold the presence lock exactly while someone is subscribed: with no clients the gateway's
    // writers build no notifications at all.
    listener.SetPresence(hub_.Any());
    RunGated(listener.PresenceSince());
  }
}

void StreamFeed::WhenStreaming(std::function<void()> then) {
  std::lock_guard lock(gate_mutex_);
  gated_.emplace_back(std::chrono::steady_clock::now(), std::move(then));
}

void StreamFeed::RunGated(std::optional<std::chrono::steady_clock::time_point> presence_since) {
  const auto now = std::chrono::steady_clock::now();
  const bool settled = presence_since && now - *presence_since >= store::kStreamPresenceSettle;
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(gate_mutex_);
    for (auto it = gated_.begin(); it != gated_.end();) {
      if (settled || now - it->first >= kGateGiveUp) {
        ready.push_back(std::move(it->second));
        it = gated_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& f : ready) {
    f();
  }
}

const store::DeviceKeys* StreamFeed::Resolve(std::int64_t device_id) {
  if (auto it = keys_.find(device_id); it != keys_.end()) {
    return &it->second;
  }
  auto keys = store::GetDeviceKeys(db_, device_id);
  if (!keys) {
    if (!store::Is(keys.error(), store::Errc::kNotFound)) {
      IOT_LOG_WARN(kLog, "msg=\"device lookup failed, change not streamed\" device_id="
                             << device_id << " error=" << log::Quote(keys.error().message()));
    }
    return nullptr;  // deleted meanwhile, or the database is away
  }
  if (keys_.size() >= kMaxCachedDevices) {
    keys_.clear();
  }
  return &keys_.emplace(device_id, std::move(*keys)).first->second;
}

void StreamFeed::OnNotification(const store::Notification& n) {
  notifications_.fetch_add(1, std::memory_order_relaxed);
  if (n.resync) {
    return;  // changes committed while the listener was away are not replayed (REST has them)
  }
  if (!hub_.Any()) {
    return;  // the cheap path: nobody subscribed
  }
  if (n.channel == store::kChannelDeviceStatus) {
    // "pk/dn/status"; device names may not contain '/'.
    const auto first = n.payload.find('/');
    const auto last = n.payload.rfind('/');
    if (first == std::string::npos || last == first) {
      return;
    }
    const std::string_view payload(n.payload);
    const auto pk = payload.substr(0, first);
    const auto dn = payload.substr(first + 1, last - first - 1);
    const auto status = payload.substr(last + 1);
    hub_.Publish(pk, dn, [&] {
      std::string data = "{\"status\":";
      AppendJsonString(data, status);
      data += '}';
      return stream::ChangeMessage("status", pk, dn, NowMs(), data);
    });
    return;
  }
  std::size_t malformed = 0;
  // One wake per client for the whole notification (a committed batch), after all of it is queued.
  stream::Hub::WakeList wakes;
  for (const auto& record : store::ParseStreamPayload(n.payload, &malformed)) {
    const store::DeviceKeys* keys = Resolve(record.device_id);
    if (keys == nullptr) {
      continue;
    }
    hub_.Publish(
        keys->product_key, keys->device_name,
        [&] {
          return stream::ChangeMessage(TypeName(record.kind), keys->product_key, keys->device_name,
                                       record.time, record.data);
        },
        &wakes);
  }
  stream::Hub::WakeAll(wakes);
  if (malformed != 0) {
    IOT_LOG_WARN(kLog, "msg=\"malformed stream records skipped\" count=" << malformed);
  }
}

void StoreSubscriptionChecker::Check(std::string product_key, std::string device_name, Done done) {
  auto shared_done = std::make_shared<Done>(std::move(done));
  const bool queued = pool_.Submit([product_key = std::move(product_key),
                                    device_name = std::move(device_name), shared_done](store::Db& db) {
    using V = Verdict;
    V verdict = V::kOk;
    if (auto product = store::GetProduct(db, product_key); !product) {
      verdict = store::Is(product.error(), store::Errc::kNotFound) ? V::kUnknownProduct : V::kUnavailable;
    } else if (!device_name.empty()) {
      if (auto device = store::GetDevice(db, product_key, device_name); !device) {
        verdict = store::Is(device.error(), store::Errc::kNotFound) ? V::kUnknownDevice : V::kUnavailable;
      }
    }
    (*shared_done)(verdict);
  });
  if (!queued) {
    (*shared_done)(Verdict::kUnavailable);
  }
}

StreamRuntime::StreamRuntime(store::DbPool& pool, Authenticator& authenticator, store::DbSettings listen_db,
                             stream::Settings settings, MetricsRegistry& metrics)
    : checker_(pool), service_(authenticator, checker_, hub_, settings), feed_(std::move(listen_db), hub_) {
  service_.SetGate([this](std::function<void()> then) { feed_.WhenStreaming(std::move(then)); });
  auto& stats = service_.Stats();
  metrics.AddGaugeCallback("iot_stream_clients", "open live-stream WebSocket connections",
                           [&stats] { return double(stats.clients.load()); });
  metrics.AddGaugeCallback("iot_stream_subscriptions", "live-stream subscriptions",
                           [this] { return double(hub_.SubscriptionCount()); });
  metrics.AddGaugeCallback("iot_stream_slow_disconnects", "stream clients closed with 1008 (since start)",
                           [&stats] { return double(stats.slow_disconnects.load()); });
  metrics.AddGaugeCallback("iot_stream_refused_upgrades", "stream upgrades refused (since start)",
                           [&stats] { return double(stats.refused.load()); });
  metrics.AddGaugeCallback("iot_stream_bad_messages", "malformed client messages (since start)",
                           [&stats] { return double(stats.bad_messages.load()); });
  metrics.AddGaugeCallback("iot_stream_listener_connected", "stream listener connected to PostgreSQL",
                           [this] { return feed_.Connected() ? 1.0 : 0.0; });
  metrics.AddGaugeCallback("iot_stream_notifications", "notifications received (since start)",
                           [this] { return double(feed_.Notifications()); });
}

}  // namespace iot::api

#include "control/message_service.hpp"

#include <random>

#include "iot/alink/custom_topic.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.messages";
constexpr int kDeliverBatch = 100;  // messages per device per delivery
constexpr int kDeliverableDevices = 500;

using Clock = std::chrono::steady_clock;

ControlError Failure(ControlErrc code, std::string detail) {
  return ControlError(make_error_code(code), std::move(detail));
}

template <class T>
T Unwrap(Result<T>&& result, std::string_view what = {}) {
  if (!result) {
    throw ControlError(result.error(), std::string(what));
  }
  return std::move(*result);
}

// Custom RRPC message ids: decimal, unique across processes and restarts.
std::string NewMessageId() {
  thread_local std::mt19937_64 rng{(std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  return std::to_string(rng() >> 1);
}

bool Settled(const store::Device& device, std::int64_t now, std::chrono::milliseconds grace) {
  return device.status == store::DeviceStatus::kOnline && device.last_online_at &&
         *device.last_online_at <= now - grace.count();
}

}  // namespace

MessageService::MessageService(store::DbPool& pool, Downlink& downlink, MessageSettings settings)
    : pool_(pool),
      downlink_(downlink),
      settings_(settings),
      broadcast_limiter_(settings.broadcasts_per_second) {}

MessageService::~MessageService() { Stop(); }

void MessageService::Start() {
  timer_thread_ = std::thread([this] {
    waiters_.RunTimer([this](const std::string& id) {
      if (auto waiter = waiters_.Take(id)) {
        Finish(std::make_shared<Waiter>(std::move(*waiter)), std::nullopt);
      }
    });
  });
}

void MessageService::Stop() {
  std::unordered_map<std::string, Waiter> left = waiters_.Stop();
  if (timer_thread_.joinable()) {
    timer_thread_.join();
  }
  for (auto& [id, waiter] : left) {
    waiter.done({std::nullopt, Failure(ControlErrc::kShuttingDown, "the API is shutting down")});
  }
}

// --- custom-topic messages -------------------------------------------------------------------------

store::DeviceMessage MessageService::Send(store::Db& db, const store::Device& device, const OutMessage& out) {
  const std::int64_t now = NowMs();
  store::DeviceMessageCreate create;
  create.device_id = device.id;
  create.topic = out.topic;
  create.payload = out.payload;
  create.qos = out.qos;
  create.requested_by = out.requested_by;
  create.ts = now;
  const bool online = device.status == store::DeviceStatus::kOnline;
  if (out.qos == 0) {
    if (!online) {
      throw Failure(ControlErrc::kDeviceOffline,
                    "device " + device.device_name + " is offline: a QoS 0 message is not kept (send QoS 1)");
    }
    create.status = "sent";
    create.sent_at = now;
    store::DeviceMessage stored = Unwrap(store::InsertDeviceMessage(db, create));
    if (downlink_.Publish(out.topic, out.payload, 0)) {
      return stored;
    }
    store::DeviceMessageUpdate failed;
    failed.status = "failed";
    failed.message = "not sent: the broker is not reachable";
    (void)store::UpdateDeviceMessage(db, stored.id, failed);
    throw Failure(ControlErrc::kBrokerDown, "the broker is not reachable, retry later");
  }
  const std::int64_t queued = Unwrap(store::CountQueuedMessages(db, device.id));
  if (queued >= settings_.queue_limit) {
    throw Failure(ControlErrc::kQueueFull, "the device's message queue is full (" +
                                               std::to_string(settings_.queue_limit) + " queued)");
  }
  create.status = "queued";
  create.expires_at = now + out.ttl_ms;
  store::DeviceMessage stored = Unwrap(store::InsertDeviceMessage(db, create));
  if (Settled(device, now, settings_.online_grace)) {
    Deliver(db, device.id);
    if (auto now_stored = store::GetDeviceMessage(db, device.id, stored.id)) {
      return std::move(*now_stored);
    }
  }
  return stored;
}

void MessageService::Deliver(store::Db& db, std::int64_t device_id) {
  std::lock_guard lock(deliver_mutex_);
  auto queued = Unwrap(store::ListQueuedMessages(db, device_id, kDeliverBatch));
  for (const auto& m : queued) {
    const std::int64_t now = NowMs();
    store::DeviceMessageUpdate update;
    update.from = {"queued"};
    if (m.expires_at && *m.expires_at <= now) {
      update.status = "expired";
      update.message = "not delivered before its time to live";
      (void)store::UpdateDeviceMessage(db, m.id, update);
      continue;
    }
    if (!downlink_.Connected()) {
      return;  // the sweeper retries
    }
    update.status = "sent";
    update.sent_at = now;
    auto claimed = store::UpdateDeviceMessage(db, m.id, update);
    if (!claimed) {
      if (store::Is(claimed.error(), store::Errc::kConflict)) {
        continue;  // another instance took it
      }
      Unwrap(std::move(claimed));
    }
    if (!downlink_.Publish(m.topic, m.payload, m.qos)) {
      store::DeviceMessageUpdate back;
      back.status = "queued";
      back.from = {"sent"};
      (void)store::UpdateDeviceMessage(db, m.id, back);
      return;
    }
  }
}

void MessageService::Sweep(store::Db& db) {
  const std::int64_t now = NowMs();
  if (auto expired = store::ExpireDeviceMessages(db, now); expired && *expired > 0) {
    IOT_LOG_INFO(kLog, "msg=\"queued messages expired\" count=" << *expired);
  }
  auto devices =
      store::ListDevicesWithQueuedMessages(db, now - settings_.online_grace.count(), kDeliverableDevices);
  if (!devices) {
    return;
  }
  for (const auto& d : *devices) {
    try {
      Deliver(db, d.device_id);
    } catch (const ControlError& e) {
      IOT_LOG_WARN(kLog, "msg=\"delivering queued messages failed\" device_id="
                             << d.device_id
                             << " error=" << log::Quote(e.detail.empty() ? e.code.message() : e.detail));
    }
  }
}

// --- broadcast -------------------------------------------------------------------------------------

void MessageService::Broadcast(const std::string& product_key, const std::string& topic,
                               const std::string& payload, int qos) {
  {
    std::lock_guard lock(limiter_mutex_);
    if (!broadcast_limiter_.Allow(product_key, NowMs())) {
      throw Failure(ControlErrc::kBroadcastRate, "more broadcasts for product " + product_key + " than " +
                                                     std::to_string(settings_.broadcasts_per_second) +
                                                     " per second, retry later");
    }
  }
  if (!downlink_.Publish(topic, payload, qos)) {
    throw Failure(ControlErrc::kBrokerDown, "the broker is not reachable, retry later");
  }
}

// --- custom RRPC -----------------------------------------------------------------------------------

void MessageService::Rrpc(store::Db& db, const store::Device& device, const std::string& inner_topic,
                          const std::string& payload, std::int64_t timeout_ms,
                          const std::string& requested_by, RrpcDone done) {
  if (device.status != store::DeviceStatus::kOnline) {
    throw Failure(ControlErrc::kDeviceOffline,
                  "device " + device.device_name + " is offline (RrpcCode OFFLINE)");
  }
  const std::string rrpc_id = NewMessageId();
  const std::string topic = alink::ExtRrpcTopic(rrpc_id, inner_topic);
  const std::int64_t now = NowMs();
  store::DeviceMessageCreate create;
  create.device_id = device.id;
  create.kind = "rrpc";
  create.topic = topic;
  create.payload = payload;
  create.status = "sent";
  create.requested_by = requested_by;
  create.ts = now;
  create.sent_at = now;
  store::DeviceMessage stored = Unwrap(store::InsertDeviceMessage(db, create));

  Waiter waiter;
  waiter.done = std::move(done);
  waiter.message_id = stored.id;
  waiter.product_key = device.product_key;
  waiter.device_name = device.device_name;
  waiter.deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  waiter.timeout_ms = timeout_ms;
  if (!waiters_.Add(rrpc_id, std::move(waiter))) {
    throw Failure(ControlErrc::kShuttingDown, "the API is shutting down");
  }
  if (downlink_.Publish(topic, payload, 0)) {
    return;
  }
  std::optional<Waiter> unsent = waiters_.Take(rrpc_id);
  if (!unsent) {
    return;
  }
  store::DeviceMessageUpdate update;
  update.status = "failed";
  update.from = {"sent"};
  update.message = "not sent: the broker is not reachable";
  (void)store::UpdateDeviceMessage(db, stored.id, update);
  unsent->done({std::nullopt, Failure(ControlErrc::kBrokerDown, "the broker is not reachable, retry later")});
}

void MessageService::OnMessage(const std::string& topic, const std::string& payload) {
  auto answer = alink::ParseRrpcReplyTopic(topic);
  if (!answer) {
    return;
  }
  // Another instance's call, a late answer, or not this device's: nothing waits here.
  std::optional<Waiter> waiter = waiters_.TakeIf(answer->message_id, [&](const Waiter& w) {
    return w.product_key == answer->product_key && w.device_name == answer->device_name;
  });
  if (!waiter) {
    return;
  }
  Finish(std::make_shared<Waiter>(std::move(*waiter)), payload.substr(0, store::kMaxMessagePayloadBytes));
}

// Records the end of a custom RRPC (answer, or timeout when `reply` is empty) and calls its `done`.
void MessageService::Finish(std::shared_ptr<Waiter> waiter, std::optional<std::string> reply) {
  const bool queued = pool_.Submit([waiter, reply = std::move(reply)](store::Db& db) {
    store::DeviceMessageUpdate update;
    update.from = {"sent"};
    if (reply) {
      update.status = "answered";
      update.reply = *reply;
    } else {
      update.status = "timeout";
      update.message = "the device did not answer within " + std::to_string(waiter->timeout_ms) + " ms";
    }
    auto updated = store::UpdateDeviceMessage(db, waiter->message_id, update);
    RrpcOutcome outcome;
    if (updated) {
      outcome.message = std::move(*updated);
    }
    if (!reply) {
      outcome.error = Failure(ControlErrc::kDeviceTimeout, "the device did not answer within " +
                                                               std::to_string(waiter->timeout_ms) +
                                                               " ms (RrpcCode TIMEOUT)");
    } else if (!updated) {
      outcome.error = ControlError(updated.error(), "recording the answer failed");
    }
    waiter->done(std::move(outcome));
  });
  if (!queued) {
    waiter->done({std::nullopt, Failure(ControlErrc::kDbQueueFull, "the database queue is full")});
  }
}

}  // namespace iot::api

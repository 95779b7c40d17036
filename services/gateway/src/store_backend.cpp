#include "store_backend.hpp"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "iot/common/log.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/device_messages.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/forwarded_writes.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/product_config.hpp"
#include "iot/store/shadow.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/store/topology.hpp"

namespace iot::gateway {
namespace {

OpStatus StatusOf(const boost::system::error_code& ec) {
  if (!ec) {
    return OpStatus::kDone;
  }
  if (store::Is(ec, store::Errc::kUnavailable)) {
    return OpStatus::kUnavailable;
  }
  return OpStatus::kFailed;
}

// The directory seam's error for a store error.
boost::system::error_code LookupError(const boost::system::error_code& ec) {
  if (store::Is(ec, store::Errc::kUnavailable)) {
    return LookupErrc::kUnavailable;
  }
  if (store::Is(ec, store::Errc::kNotFound)) {
    return LookupErrc::kNotFound;
  }
  return LookupErrc::kFailed;
}

log::RateLimiter& OpNoise() {
  static log::RateLimiter limiter(std::chrono::seconds(5));
  return limiter;
}

}  // namespace

StoreDirectorySource::StoreDirectorySource(store::DbSettings settings) : db_(std::move(settings)) {}

Result<DeviceEntry> StoreDirectorySource::LoadDevice(std::string_view product_key,
                                                     std::string_view device_name) {
  auto info = store::LookupDevice(db_, product_key, device_name);
  if (!info) {
    return LookupError(info.error());
  }
  return DeviceEntry{info->device_id, info->enabled, std::move(info->gateway_product_key),
                     std::move(info->gateway_device_name), std::move(info->iot_id)};
}

Result<ProductEntry> StoreDirectorySource::LoadProduct(std::string_view product_key) {
  auto product = catalog::LoadFromStore(db_, product_key);
  if (!product) {
    return LookupError(product.error());
  }
  return product;
}

Result<std::string> StoreDirectorySource::LoadUrlSigningKey() {
  auto key = store::EnsureUrlSigningKey(db_, store::kDownloadKeyName);
  if (!key) {
    return LookupError(key.error());
  }
  return key;
}

StoreBackend::StoreBackend(store::DbSettings settings) : db_(std::move(settings)), writer_(db_) {}

Result<std::vector<store::MessageResult>> StoreBackend::WriteTelemetry(
    std::span<const store::TelemetryMessage> batch) {
  const auto alarm_failures = writer_.Stats().alarm_failures;
  auto results = writer_.Write(batch);
  if (writer_.Stats().alarm_failures != alarm_failures) {
    IOT_LOG_LIMITED(OpNoise(), log::Level::kWarn, "gateway",
                    "msg=\"alarms of a batch not written (its data was)\" messages=" << batch.size());
  }
  return results;
}

OpStatus StoreBackend::ApplyLifecycles(std::span<const store::LifecycleEvent> events) {
  auto r = store::ApplyLifecycles(db_, events);  // unknown devices (deleted meanwhile) are skipped
  if (!r && events.size() > 1 && StatusOf(r.error()) == OpStatus::kFailed) {
    // A data error: one event must not cost the others theirs. Apply them one by one.
    OpStatus worst = OpStatus::kDone;
    for (std::size_t i = 0; i < events.size(); ++i) {
      const OpStatus one = ApplyLifecycles(events.subspan(i, 1));
      if (one == OpStatus::kUnavailable) {
        return one;
      }
      if (one == OpStatus::kFailed) {
        worst = one;
      }
    }
    return worst;
  }
  if (!r) {
    IOT_LOG_LIMITED(OpNoise(), log::Level::kError, "gateway",
                    "msg=\"lifecycle events not stored\" count=" << events.size() << " error="
                                                                 << log::Quote(r.error().message()));
  }
  return r ? OpStatus::kDone : StatusOf(r.error());
}

// A shadow get reads; an update or delete is applied to the stored document under its row lock (the
// API changes the same row), and stored only when it is accepted.
OpStatus StoreBackend::ExecuteShadow(const ShadowOp& op, OpResult& result) {
  namespace shadow = alink::shadow;
  if (op.request.method == shadow::Method::kGet) {
    auto row = store::GetShadow(db_, op.device_id);
    if (!row) {
      return StatusOf(row.error());
    }
    result.shadow = shadow::FromStore(row->document_json, row->version);
    return OpStatus::kDone;
  }
  std::optional<shadow::Error> refused;
  auto row = store::UpdateShadow(db_, op.device_id, [&](const store::ShadowRow& stored) {
    shadow::Document doc = shadow::FromStore(stored.document_json, stored.version);
    refused = shadow::Apply(doc, op.request, op.now_s);
    return refused ? std::nullopt
                   : std::optional<store::ShadowRow>(store::ShadowRow{shadow::StoreText(doc), doc.version});
  });
  if (!row) {
    return StatusOf(row.error());
  }
  result.shadow = shadow::FromStore(row->document_json, row->version);
  result.shadow_refused = std::move(refused);
  return OpStatus::kDone;
}

// An inform or progress report as stored: a task it ended or moved is logged; a report of a device
// deleted meanwhile is dropped, one the store refused (a module or version it cannot keep) logged too.
OpStatus StoreBackend::ExecuteOta(const Result<std::optional<store::OtaTaskChange>>& r,
                                  std::int64_t device_id) {
  if (!r && store::Is(r.error(), store::Errc::kNotFound)) {
    return OpStatus::kDone;  // the device was deleted meanwhile
  }
  if (!r) {
    const OpStatus status = StatusOf(r.error());
    if (status == OpStatus::kFailed) {
      IOT_LOG_LIMITED(OpNoise(), log::Level::kWarn, "gateway",
                      "msg=\"OTA report not stored\" device_id=" << device_id << " error="
                                                                 << log::Quote(r.error().message()));
    }
    return status;
  }
  if (*r) {
    IOT_LOG(log::Level::kDebug, "gateway",
            "msg=\"OTA task changed\" device_id=" << device_id << " job=" << (*r)->job_id
                                                  << " task=" << (*r)->task_id << " state=" << (*r)->state);
  }
  return OpStatus::kDone;
}

// A gateway's topology request: the gateway must be of a gateway product; topo.add checks each
// sub-device's sign with its own secret before anything changes; register checks each product's
// dynamic-registration switch and that no other gateway holds the device. All or nothing.
OpStatus StoreBackend::ExecuteTopology(const TopologyOp& op, OpResult& result) {
  using Refusal = OpResult::TopologyRefusal;
  auto refuse = [&](Refusal refusal, std::size_t index) {
    result.topology_refusal = refusal;
    result.topology_index = index;
    result.topology.clear();
    result.registered_secrets.clear();
    return OpStatus::kDone;
  };
  auto gateway = store::LookupDevice(db_, op.gateway_product_key, op.gateway_device_name);
  if (!gateway) {
    return store::Is(gateway.error(), store::Errc::kNotFound) ? refuse(Refusal::kUnknownDevice, SIZE_MAX)
                                                              : StatusOf(gateway.error());
  }
  if (gateway->node_type != store::NodeType::kGateway) {
    return refuse(Refusal::kNotGateway, SIZE_MAX);
  }
  auto of = [](store::TopologyRefusal refusal) {
    switch (refusal) {
      case store::TopologyRefusal::kUnknownDevice: return Refusal::kUnknownDevice;
      case store::TopologyRefusal::kSelf: return Refusal::kSelf;
      case store::TopologyRefusal::kOtherGateway: return Refusal::kOtherGateway;
      case store::TopologyRefusal::kTooMany: return Refusal::kTooMany;
      case store::TopologyRefusal::kNotInTopology: return Refusal::kNotInTopology;
      case store::TopologyRefusal::kNone: break;
    }
    return Refusal::kNone;
  };
  auto apply = [&](const Result<store::TopologyOutcome>& outcome) {
    if (!outcome) {
      return StatusOf(outcome.error());
    }
    if (outcome->refusal != store::TopologyRefusal::kNone) {
      return refuse(of(outcome->refusal), outcome->index);
    }
    result.topology = outcome->devices;
    return OpStatus::kDone;
  };
  switch (op.action) {
    case TopologyOp::Action::kGet: {
      auto subs = store::ListTopology(db_, op.gateway_id);
      if (!subs) {
        return StatusOf(subs.error());
      }
      result.topology = std::move(*subs);
      return OpStatus::kDone;
    }
    case TopologyOp::Action::kDelete: return apply(store::RemoveTopology(db_, op.gateway_id, op.devices));
    case TopologyOp::Action::kFound: {
      auto recorded = store::RecordFoundDevices(db_, op.gateway_id, op.devices, op.now_ms);
      return recorded ? OpStatus::kDone : StatusOf(recorded.error());
    }
    case TopologyOp::Action::kAdd: {
      std::vector<store::DeviceRef> refs;
      refs.reserve(op.signs.size());
      for (std::size_t i = 0; i < op.signs.size(); ++i) {
        const auto& sign = op.signs[i];
        auto sub = store::LookupDevice(db_, sign.product_key, sign.device_name);
        if (!sub) {
          return store::Is(sub.error(), store::Errc::kNotFound) ? refuse(Refusal::kUnknownDevice, i)
                                                                : StatusOf(sub.error());
        }
        if (!alink::VerifySubDeviceSign(sign, sub->secret)) {
          return refuse(Refusal::kBadSign, i);
        }
        refs.push_back(store::DeviceRef{sign.product_key, sign.device_name});
      }
      return apply(store::AddTopology(db_, op.gateway_id, refs));
    }
    case TopologyOp::Action::kRegister: {
      for (std::size_t i = 0; i < op.devices.size(); ++i) {
        const auto& ref = op.devices[i];
        auto sub = store::LookupDevice(db_, ref.product_key, ref.device_name);
        if (!sub) {
          return store::Is(sub.error(), store::Errc::kNotFound) ? refuse(Refusal::kUnknownDevice, i)
                                                                : StatusOf(sub.error());
        }
        if (!sub->dynamic_registration) {
          return refuse(Refusal::kRegistrationOff, i);
        }
        if (!sub->gateway_product_key.empty() && (sub->gateway_product_key != op.gateway_product_key ||
                                                  sub->gateway_device_name != op.gateway_device_name)) {
          return refuse(Refusal::kOtherGateway, i);
        }
        auto device = store::GetDevice(db_, ref.product_key, ref.device_name);
        if (!device) {
          return store::Is(device.error(), store::Errc::kNotFound) ? refuse(Refusal::kUnknownDevice, i)
                                                                   : StatusOf(device.error());
        }
        store::SubDevice registered;
        registered.device_id = device->id;
        registered.product_key = device->product_key;
        registered.device_name = device->device_name;
        registered.iot_id = device->iot_id;
        registered.enabled = device->enabled;
        registered.status = device->status;
        result.topology.push_back(std::move(registered));
        result.registered_secrets.push_back(device->secret);
      }
      return OpStatus::kDone;
    }
  }
  return OpStatus::kDone;
}

OpStatus StoreBackend::Execute(const Op& op, OpResult& result) {
  if (const auto* tags = std::get_if<TagsUpdateOp>(&op)) {
    auto r = store::UpdateDeviceTags(db_, tags->device_id, tags->tags);
    return r ? OpStatus::kDone : StatusOf(r.error());
  }
  if (const auto* tags = std::get_if<TagsDeleteOp>(&op)) {
    auto r = store::DeleteDeviceTags(db_, tags->device_id, tags->keys);
    return r ? OpStatus::kDone : StatusOf(r.error());
  }
  if (const auto* get = std::get_if<DesiredGetOp>(&op)) {
    auto r = store::GetDesiredProperties(db_, get->device_id);
    if (!r) {
      return StatusOf(r.error());
    }
    result.desired = std::move(*r);
    return OpStatus::kDone;
  }
  if (const auto* del = std::get_if<DesiredDeleteOp>(&op)) {
    if (del->changes.empty()) {
      return OpStatus::kDone;
    }
    auto r = store::DeleteDesiredFromDevice(db_, del->device_id, del->changes);
    return r ? OpStatus::kDone : StatusOf(r.error());
  }
  if (const auto* shadow = std::get_if<ShadowOp>(&op)) {
    return ExecuteShadow(*shadow, result);
  }
  if (const auto* topology = std::get_if<TopologyOp>(&op)) {
    return ExecuteTopology(*topology, result);
  }
  if (const auto* user = std::get_if<UserMessageOp>(&op)) {
    store::DeviceMessageCreate create;
    create.device_id = user->device_id;
    create.direction = "up";
    create.topic = user->topic;
    create.payload = user->payload;
    create.qos = user->qos;
    create.status = "received";
    create.ts = user->received_ms;
    auto r = store::InsertDeviceMessageForwarded(db_, create, user->forward);
    if (!r && store::Is(r.error(), store::Errc::kNotFound)) {
      return OpStatus::kDone;  // the device was deleted meanwhile
    }
    return r ? OpStatus::kDone : StatusOf(r.error());
  }
  if (const auto* inform = std::get_if<OtaInformOp>(&op)) {
    return ExecuteOta(
        store::InformDeviceModule(db_, inform->device_id, inform->module, inform->version, inform->at),
        inform->device_id);
  }
  if (const auto* progress = std::get_if<OtaProgressOp>(&op)) {
    return ExecuteOta(store::ApplyOtaProgress(db_, progress->device_id, progress->module, progress->step,
                                              progress->desc, progress->at),
                      progress->device_id);
  }
  if (const auto* get = std::get_if<OtaFirmwareGetOp>(&op)) {
    auto r = store::FindPendingUpgrade(db_, get->device_id, get->module);
    if (!r) {
      return StatusOf(r.error());
    }
    result.ota_pending = std::move(*r);
    return OpStatus::kDone;
  }
  if (const auto* call = std::get_if<ServiceReplyOp>(&op)) {
    auto found = store::FindServiceCallByAlinkId(db_, call->device_id, call->alink_id);
    if (!found) {
      if (store::Is(found.error(), store::Errc::kNotFound)) {
        IOT_LOG_LIMITED(OpNoise(), log::Level::kInfo, "gateway",
                        "msg=\"device reply for no pending call\" device_id=" << call->device_id << " id="
                                                                              << log::Quote(call->alink_id));
        return OpStatus::kDone;
      }
      return StatusOf(found.error());
    }
    store::ServiceCallUpdate update;
    update.status =
        call->succeeded ? store::ServiceCallStatus::kSucceeded : store::ServiceCallStatus::kFailed;
    // A late answer after a timeout is recorded too (the operator already saw the 504 or timeout).
    update.from = {store::ServiceCallStatus::kSent, store::ServiceCallStatus::kQueued,
                   store::ServiceCallStatus::kTimeout};
    update.code = call->code;
    update.message = call->message;
    update.output_json = call->output_json;
    update.replied_at = call->replied_at;
    auto r = store::UpdateServiceCallForwarded(db_, found->call_id, update, call->forward);
    if (!r && store::Is(r.error(), store::Errc::kConflict)) {
      return OpStatus::kDone;  // answered already
    }
    return r ? OpStatus::kDone : StatusOf(r.error());
  }
  return OpStatus::kDone;
}

}  // namespace iot::gateway

#include "control/control_service.hpp"

#include <atomic>
#include <random>

#include "iot/alink/custom_topic.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/listener.hpp"
#include "iot/store/thing_models.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.control";
constexpr int kDeliverableBatch = 500;
constexpr std::size_t kMaxRawEncoders = 1024;

log::RateLimiter& ModelNoise() {
  static log::RateLimiter limiter(std::chrono::seconds(5));
  return limiter;
}

using Clock = std::chrono::steady_clock;

// A store result's value, or the ControlError carrying the store's error; `what` ("no such product:
// a1B2c3") describes it for people (empty: the mapping's generic words).
template <class T>
T Unwrap(Result<T>&& result, std::string_view what = {}) {
  if (!result) {
    throw ControlError(result.error(), std::string(what));
  }
  return std::move(*result);
}

ControlError Failure(ControlErrc code, std::string detail) {
  return ControlError(make_error_code(code), std::move(detail));
}

// Alink ids: decimal, 0..4294967295, unique per device per day. Ours stay below 2^31: raw products'
// parsing scripts carry the id in 4 bytes and read it back as a signed 32-bit integer (Alibaba's
// sample scripts: DataView.getInt32), so a larger id would come back negative and never complete its
// call. A process-wide counter from a random start never repeats within 2^31 commands.
std::string NewAlinkId() {
  static std::atomic<std::uint32_t> next{static_cast<std::uint32_t>(std::random_device{}())};
  return std::to_string(next.fetch_add(1, std::memory_order_relaxed) & 0x7fffffffu);
}

// RRPC messageIds: unique across processes and restarts (the response finds its call by it alone).
std::string NewRrpcId() {
  thread_local std::mt19937_64 rng{(std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  return std::to_string(rng() >> 1);
}

std::string Method(const std::string& identifier) {
  return identifier == "set" ? "thing.service.property.set" : "thing.service." + identifier;
}

std::string CommandTopic(const std::string& pk, const std::string& dn, const std::string& identifier) {
  alink::Topic topic;
  topic.product_key = pk;
  topic.device_name = dn;
  if (identifier == "set") {
    topic.kind = alink::TopicKind::kPropertySet;
  } else {
    topic.kind = alink::TopicKind::kServiceCall;
    topic.identifier = identifier;
  }
  return alink::FormatTopic(topic);
}

std::string DownRawTopic(const std::string& pk, const std::string& dn) {
  alink::Topic topic;
  topic.kind = alink::TopicKind::kModelDownRaw;
  topic.product_key = pk;
  topic.device_name = dn;
  return alink::FormatTopic(topic);
}

std::string RrpcTopic(const std::string& pk, const std::string& dn, const std::string& rrpc_id) {
  alink::Topic topic;
  topic.kind = alink::TopicKind::kRrpcRequest;
  topic.product_key = pk;
  topic.device_name = dn;
  topic.message_id = rrpc_id;
  return alink::FormatTopic(topic);
}

// The first problem of a report as (code, message), or nullopt when everything passed.
std::optional<std::pair<int, std::string>> FirstProblem(const tsl::Report& report) {
  if (!report.request_ok()) {
    return std::make_pair(report.code, report.message);
  }
  if (!report.refused.empty()) {
    const auto& r = report.refused.front();
    return std::make_pair(r.code, r.identifier + ": " + r.message);
  }
  return std::nullopt;
}

tsl::Report CheckCommand(const ProductModel& model, const std::string& identifier,
                         const nlohmann::json& params, std::int64_t now_ms) {
  tsl::Validator validator(model.model.get(), tsl::Mode::kStrict);
  if (identifier == "set") {
    return validator.PropertySet(params, now_ms);
  }
  return validator.ServiceInput(identifier, params, now_ms);
}

// The record of a new command (its Alink id is chosen here, once).
store::ServiceCallCreate NewCall(const store::Device& device, const Command& command,
                                 store::ServiceCallStatus status) {
  store::ServiceCallCreate create;
  create.device_id = device.id;
  create.identifier = command.identifier;
  create.call_type = command.call_type;
  create.params_json = command.params.dump();
  create.status = status;
  create.requested_by = command.requested_by;
  create.alink_id = NewAlinkId();
  create.audit = command.audit;
  return create;
}

ControlError WithCall(ControlError error, const store::ServiceCall& call) {
  error.call = call;
  return error;
}

// How a finished sync call ends: its record when the device answered, kDeviceTimeout when it did not.
SyncOutcome SyncResult(const store::ServiceCall& call, std::int64_t timeout_ms) {
  if (call.status == store::ServiceCallStatus::kTimeout) {
    return WithCall(Failure(ControlErrc::kDeviceTimeout,
                            "the device did not answer within " + std::to_string(timeout_ms) + " ms"),
                    call);
  }
  return call;
}

}  // namespace

ControlService::ControlService(store::DbPool& pool, Downlink& downlink, ControlSettings settings)
    : pool_(pool),
      downlink_(downlink),
      settings_(std::move(settings)),
      request_limiter_(settings_.downlink_rate),
      delivery_limiter_(settings_.downlink_rate) {}

ControlService::~ControlService() { Stop(); }

void ControlService::Start() {
  timer_thread_ = std::thread([this] { waiters_.RunTimer([this](const std::string& id) { TimeOut(id); }); });
  sweep_thread_ = std::thread([this] { SweepLoop(); });
}

void ControlService::Stop() {
  std::unordered_map<std::string, Waiter> left = waiters_.Stop();
  {
    std::lock_guard lock(sweep_mutex_);
    sweep_stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (timer_thread_.joinable()) {
    timer_thread_.join();
  }
  if (sweep_thread_.joinable()) {
    sweep_thread_.join();
  }
  for (auto& [id, waiter] : left) {
    waiter.done(Failure(ControlErrc::kShuttingDown, "the API is shutting down"));
  }
}

// --- models -------------------------------------------------------------------------------------

script::Outcome<std::string> ControlService::ToRaw(const ProductModel& model, const nlohmann::json& message) {
  if (!model.script) {
    return script::Error{script::kNoScript, "the product has no parsing script", 0};
  }
  std::shared_ptr<RawEncoder> encoder;
  {
    std::lock_guard lock(encoders_mutex_);
    auto& slot = encoders_[model.product_key];
    if (!slot || slot->source != model.script) {  // first use, or the product was reloaded
      if (encoders_.size() > kMaxRawEncoders) {
        encoders_.clear();
      }
      slot = std::make_shared<RawEncoder>();
      slot->source = model.script;
    }
    encoder = slot;
  }
  std::lock_guard lock(encoder->mutex);
  if (!encoder->compiled) {
    auto built = script::Script::Compile(*encoder->source, settings_.script_limits);
    if (!built) {
      return built.error();
    }
    encoder->compiled = std::move(*built);
  }
  return encoder->compiled->ProtocolToRawData(message);
}

std::shared_ptr<const ProductModel> ControlService::Model(store::Db& db, const std::string& pk) {
  auto model = Unwrap(models_.Find(db, pk), "no such product: " + pk);
  if (model->version && !model->model) {
    IOT_LOG_LIMITED(ModelNoise(), log::Level::kError, kLog,
                    "msg=\"published thing model does not parse\" product="
                        << pk << " error=" << log::Quote(model->model_error));
  }
  return model;
}

std::vector<ParamProblem> ControlService::ValidateParams(const ProductModel& model, const Command& command) {
  tsl::Report report = CheckCommand(model, command.identifier, command.params, NowMs());
  std::vector<ParamProblem> problems;
  if (report.all_accepted()) {
    return problems;
  }
  if (!report.request_ok()) {
    problems.push_back({"", report.code, report.message});
  }
  for (const auto& refusal : report.refused) {
    problems.push_back({refusal.identifier, refusal.code, refusal.message});
  }
  return problems;
}

bool ControlService::AllowCommand(std::int64_t device_id) {
  std::lock_guard lock(limiter_mutex_);
  return request_limiter_.Allow(std::to_string(device_id), NowMs());
}

// --- async commands and the queue -------------------------------------------------------------------

store::ServiceCall ControlService::Enqueue(store::Db& db, const store::Device& device,
                                           const Command& command) {
  const std::int64_t queued = Unwrap(store::CountQueuedServiceCalls(db, device.id));
  if (queued >= settings_.queue_limit) {
    throw Failure(ControlErrc::kQueueFull, "the device's command queue is full (" +
                                               std::to_string(settings_.queue_limit) + " queued)");
  }
  const std::int64_t now = NowMs();
  store::ServiceCallCreate create = NewCall(device, command, store::ServiceCallStatus::kQueued);
  create.requested_at =
      now;  // this process's clock, as sentAt's later (not the database's: it may run ahead)
  create.expires_at = now + command.ttl_ms;
  store::ServiceCall call = Unwrap(store::CreateServiceCall(db, create));
  // A device that has just connected may not have subscribed yet: the sweeper delivers after the grace.
  const bool settled =
      device.last_online_at && *device.last_online_at <= now - settings_.online_grace.count();
  if (device.status == store::DeviceStatus::kOnline && settled) {
    Deliver(db, device.id, device.product_key, device.device_name);
    call = Unwrap(store::GetServiceCall(db, device.id, call.call_id));
  }
  return call;
}

std::optional<std::pair<int, std::string>> ControlService::Recheck(const ProductModel* model,
                                                                   const store::ServiceCall& call) const {
  if (model == nullptr || !model->model) {
    return std::make_pair(codes::kPropertyDefsUnavailable, std::string("no published thing model"));
  }
  if (call.identifier != "set") {
    const tsl::Service* service = model->model->FindService(call.identifier);
    if (service == nullptr) {
      return std::make_pair(codes::kServiceNotFound, "service " + call.identifier + " is not in the model");
    }
    if (service->call_type == tsl::CallType::kSync) {
      return std::make_pair(codes::kServiceNotFound, "service " + call.identifier + " is now synchronous");
    }
  }
  nlohmann::json params = nlohmann::json::parse(call.params_json, nullptr, false);
  if (params.is_discarded()) {
    params = nlohmann::json::object();
  }
  auto problem = FirstProblem(CheckCommand(*model, call.identifier, params, NowMs()));
  if (problem) {
    problem->second = "params no longer match the published model: " + problem->second;
  }
  return problem;
}

void ControlService::Deliver(store::Db& db, std::int64_t device_id, const std::string& pk,
                             const std::string& dn) {
  std::lock_guard device_lock(DeviceLock(device_id));
  auto calls = Unwrap(store::ListQueuedServiceCalls(db, device_id));
  if (calls.empty()) {
    return;
  }
  std::shared_ptr<const ProductModel> model = Model(db, pk);
  const std::string key = std::to_string(device_id);
  for (const store::ServiceCall& call : calls) {
    const std::int64_t now = NowMs();
    store::ServiceCallUpdate update;
    update.from = {store::ServiceCallStatus::kQueued};
    if (call.expires_at && *call.expires_at <= now) {
      update.status = store::ServiceCallStatus::kExpired;
      update.message = "not delivered before its time to live";
      (void)store::UpdateServiceCall(db, call.call_id, update);
      continue;
    }
    if (auto problem = Recheck(model.get(), call)) {
      update.status = store::ServiceCallStatus::kRejected;
      update.code = problem->first;
      update.message = problem->second;
      (void)store::UpdateServiceCall(db, call.call_id, update);
      continue;
    }
    if (!downlink_.Connected()) {
      return;  // the sweeper retries
    }
    {
      std::lock_guard lock(limiter_mutex_);
      if (!delivery_limiter_.Allow(key, now)) {
        return;  // paced: the sweeper goes on next tick
      }
    }
    nlohmann::json params = nlohmann::json::parse(call.params_json, nullptr, false);
    std::string payload = alink::BuildRequest(call.alink_id, Method(call.identifier),
                                              params.is_discarded() ? nlohmann::json::object() : params);
    std::string topic = CommandTopic(pk, dn, call.identifier);
    if (model && model->raw) {
      // Raw product: the same Alink request, converted to the device's bytes by its script.
      auto bytes = ToRaw(*model, nlohmann::json::parse(payload));
      if (!bytes) {
        update.status = store::ServiceCallStatus::kFailed;
        update.code = bytes.error().code;
        update.message = "protocolToRawData: " + bytes.error().Text();
        (void)store::UpdateServiceCall(db, call.call_id, update);
        continue;
      }
      payload = std::move(*bytes);
      topic = DownRawTopic(pk, dn);
    }
    update.status = store::ServiceCallStatus::kSent;
    update.sent_at = now;
    auto claimed = store::UpdateServiceCall(db, call.call_id, update);
    if (!claimed) {
      if (store::Is(claimed.error(), store::Errc::kConflict)) {
        continue;  // someone else took it
      }
      Unwrap(std::move(claimed));
    }
    if (!downlink_.Publish(topic, payload, 1)) {
      store::ServiceCallUpdate back;
      back.status = store::ServiceCallStatus::kQueued;
      back.from = {store::ServiceCallStatus::kSent};
      (void)store::UpdateServiceCall(db, call.call_id, back);
      return;
    }
  }
}

void ControlService::RejectInvalidQueued(store::Db& db, const std::string& pk) {
  auto calls = store::ListQueuedServiceCallsOfProduct(db, pk);
  if (!calls) {
    return;
  }
  std::shared_ptr<const ProductModel> model = Model(db, pk);
  for (const auto& call : *calls) {
    if (auto problem = Recheck(model.get(), call)) {
      store::ServiceCallUpdate update;
      update.status = store::ServiceCallStatus::kRejected;
      update.from = {store::ServiceCallStatus::kQueued};
      update.code = problem->first;
      update.message = problem->second;
      (void)store::UpdateServiceCall(db, call.call_id, update);
    }
  }
}

// --- sync calls over RRPC ------------------------------------------------------------------------

void ControlService::CallSync(store::Db& db, const store::Device& device,
                              std::shared_ptr<const ProductModel> model, const Command& command,
                              SyncDone done) {
  if (model && model->raw) {
    throw Failure(
        ControlErrc::kRawSync,
        "synchronous services (RRPC) are not available for raw products: declare the service async");
  }
  const std::int64_t now = NowMs();
  store::ServiceCallCreate create = NewCall(device, command, store::ServiceCallStatus::kSent);
  create.requested_at = now;  // the same reading: a sync call is sent as it is requested
  create.sent_at = now;
  create.expires_at = now + command.timeout_ms;
  create.rrpc_id = NewRrpcId();
  store::ServiceCall call = Unwrap(store::CreateServiceCall(db, create));

  // Registered before the publish: the answer can come back before Publish returns.
  Waiter waiter;
  waiter.done = std::move(done);
  waiter.call_id = call.call_id;
  waiter.device_id = device.id;
  waiter.product_key = device.product_key;
  waiter.device_name = device.device_name;
  waiter.identifier = command.identifier;
  waiter.model = std::move(model);
  waiter.deadline = Clock::now() + std::chrono::milliseconds(command.timeout_ms);
  waiter.timeout_ms = command.timeout_ms;
  if (!waiters_.Add(create.rrpc_id, std::move(waiter))) {
    throw Failure(ControlErrc::kShuttingDown, "the API is shutting down");
  }
  const std::string payload = alink::BuildRequest(call.alink_id, Method(command.identifier), command.params);
  const std::string topic =
      command.ext_rrpc
          ? alink::ExtRrpcTopic(create.rrpc_id,
                                CommandTopic(device.product_key, device.device_name, command.identifier))
          : RrpcTopic(device.product_key, device.device_name, create.rrpc_id);
  if (downlink_.Publish(topic, payload, 0)) {
    return;
  }
  std::optional<Waiter> unsent = waiters_.Take(create.rrpc_id);
  if (!unsent) {
    return;  // answered already (cannot happen without a publish)
  }
  store::ServiceCallUpdate update;
  update.status = store::ServiceCallStatus::kFailed;
  update.from = {store::ServiceCallStatus::kSent};
  update.message = "not sent: the broker is not reachable";
  auto failed = store::UpdateServiceCall(db, call.call_id, update);
  ControlError error = Failure(ControlErrc::kBrokerDown, "the broker is not reachable, retry later");
  unsent->done(failed ? WithCall(std::move(error), *failed) : std::move(error));
}

void ControlService::OnMessage(const std::string& topic, const std::string& payload) {
  std::optional<alink::Topic> parsed;
  if (auto answer = alink::ParseRrpcReplyTopic(topic)) {
    // The /ext/rrpc form: an answer to a sync service only when its inner topic is that service's.
    const std::string service = "sys/" + answer->product_key + "/" + answer->device_name + "/thing/service/";
    if (!answer->inner.starts_with(service)) {
      return;
    }
    parsed.emplace();
    parsed->kind = alink::TopicKind::kRrpcResponse;
    parsed->product_key = answer->product_key;
    parsed->device_name = answer->device_name;
    parsed->message_id = answer->message_id;
  } else if (auto response = alink::ParseTopic(topic); response) {
    parsed = std::move(*response);
  }
  if (!parsed || parsed->kind != alink::TopicKind::kRrpcResponse) {
    return;
  }
  std::optional<Waiter> waiter = waiters_.Take(parsed->message_id);
  std::string pk = parsed->product_key;
  std::string dn = parsed->device_name;
  std::string rrpc_id = parsed->message_id;
  auto shared_waiter = std::make_shared<std::optional<Waiter>>(std::move(waiter));
  const bool queued = pool_.Submit([this, pk, dn, rrpc_id, payload, shared_waiter](store::Db& db) {
    try {
      CompleteRrpc(db, pk, dn, rrpc_id, payload, std::move(*shared_waiter));
    } catch (const ControlError& error) {
      if (*shared_waiter) {
        (*shared_waiter)->done(error);
      }
    } catch (const std::exception& e) {
      IOT_LOG_ERROR(kLog, "msg=\"recording an RRPC answer failed\" what=" << log::Quote(e.what()));
      if (*shared_waiter) {
        (*shared_waiter)->done(Failure(ControlErrc::kInternal, "internal error"));
      }
    }
  });
  if (!queued) {
    IOT_LOG_ERROR(kLog, "msg=\"DB queue full: RRPC answer not recorded\" rrpc_id=" << rrpc_id);
    if (*shared_waiter) {
      (*shared_waiter)->done(Failure(ControlErrc::kDbQueueFull, "the database queue is full"));
    }
  }
}

void ControlService::CompleteRrpc(store::Db& db, const std::string& pk, const std::string& dn,
                                  const std::string& rrpc_id, const std::string& payload,
                                  std::optional<Waiter> waiter) {
  std::string call_id;
  std::string identifier;
  std::shared_ptr<const ProductModel> model;
  if (waiter) {
    if (waiter->product_key != pk || waiter->device_name != dn) {
      // Another device cannot answer (the broker's ACL keeps devices on their own topics); keep waiting.
      IOT_LOG_WARN(kLog, "msg=\"RRPC answer from the wrong device ignored\" rrpc_id=" << rrpc_id);
      (void)waiters_.Add(rrpc_id, std::move(*waiter));
      return;
    }
    call_id = waiter->call_id;
    identifier = waiter->identifier;
    model = waiter->model;
  } else {
    // A late answer (after the timeout, or after a restart of the API): record it.
    auto found = store::FindServiceCallByRrpcId(db, rrpc_id);
    if (!found) {
      return;
    }
    auto device = store::GetDeviceById(db, found->device_id);
    if (!device || device->product_key != pk || device->device_name != dn) {
      return;
    }
    call_id = found->call_id;
    identifier = found->identifier;
    model = Model(db, pk);
  }

  store::ServiceCallUpdate update;
  update.from = {store::ServiceCallStatus::kSent};
  if (!waiter) {
    update.from.push_back(store::ServiceCallStatus::kTimeout);
  }
  update.replied_at = NowMs();
  auto reply = alink::DecodeReply(payload);
  if (!reply) {
    update.status = store::ServiceCallStatus::kFailed;
    update.code = codes::kRrpcInvalidReply;
    update.message = "the device's answer is not an Alink reply: " + reply.error().message();
  } else {
    const nlohmann::json data = reply->data->is_null() ? nlohmann::json::object() : *reply->data;
    update.code = reply->code;
    update.message = reply->message;
    update.output_json = data.dump();
    update.status =
        reply->code == 200 ? store::ServiceCallStatus::kSucceeded : store::ServiceCallStatus::kFailed;
    if (reply->code == 200 && model && model->model && model->mode != tsl::Mode::kNone) {
      tsl::Validator validator(model->model.get(), model->mode);
      if (auto problem = FirstProblem(validator.ServiceOutput(identifier, data, NowMs()))) {
        update.status = store::ServiceCallStatus::kFailed;
        update.code = problem->first;
        update.message = "outputData: " + problem->second;
      }
    }
  }
  auto updated = store::UpdateServiceCall(db, call_id, update);
  if (!waiter) {
    return;
  }
  if (!updated && store::Is(updated.error(), store::Errc::kConflict)) {
    // The sweeper timed it out a moment earlier: answer with what is stored.
    updated = store::GetServiceCall(db, waiter->device_id, call_id);
  }
  AnswerSync(*waiter, Unwrap(std::move(updated)));
}

void ControlService::AnswerSync(const Waiter& waiter, const store::ServiceCall& call) {
  waiter.done(SyncResult(call, waiter.timeout_ms));
}

void ControlService::TimeOut(const std::string& rrpc_id) {
  std::optional<Waiter> waiter = waiters_.Take(rrpc_id);
  if (!waiter) {
    return;
  }
  auto shared = std::make_shared<Waiter>(std::move(*waiter));
  const bool queued = pool_.Submit([this, shared](store::Db& db) {
    try {
      store::ServiceCallUpdate update;
      update.status = store::ServiceCallStatus::kTimeout;
      update.from = {store::ServiceCallStatus::kSent};
      update.message = "the device did not answer within " + std::to_string(shared->timeout_ms) + " ms";
      auto updated = store::UpdateServiceCall(db, shared->call_id, update);
      if (!updated && store::Is(updated.error(), store::Errc::kConflict)) {
        // Answered (or timed out by the sweeper) just now: report what is stored.
        updated = store::GetServiceCall(db, shared->device_id, shared->call_id);
      }
      AnswerSync(*shared, Unwrap(std::move(updated)));
    } catch (const ControlError& error) {
      shared->done(error);
    } catch (const std::exception& e) {
      IOT_LOG_ERROR(kLog, "msg=\"timing out a sync call failed\" what=" << log::Quote(e.what()));
      shared->done(Failure(ControlErrc::kInternal, "internal error"));
    }
  });
  if (!queued) {
    shared->done(Failure(ControlErrc::kDbQueueFull, "the database queue is full"));
  }
}

// --- the sweeper -----------------------------------------------------------------------------------

void ControlService::Sweep(store::Db& db) {
  auto ended = store::ExpireServiceCalls(db, NowMs());
  if (ended && !ended->empty()) {
    IOT_LOG_INFO(kLog, "msg=\"open commands ended\" count=" << ended->size());
  }
  for (const auto& sweep : sweepers_) {
    try {
      sweep(db);
    } catch (const std::exception& e) {
      IOT_LOG_WARN(kLog, "msg=\"a downlink sweep failed\" what=" << log::Quote(e.what()));
    }
  }
  auto devices =
      store::ListDeliverableDevices(db, NowMs() - settings_.online_grace.count(), kDeliverableBatch);
  if (!devices) {
    return;
  }
  for (const auto& d : *devices) {
    try {
      Deliver(db, d.device_id, d.product_key, d.device_name);
    } catch (const ControlError& e) {
      IOT_LOG_WARN(kLog, "msg=\"delivering a queue failed\" device_id="
                             << d.device_id
                             << " error=" << log::Quote(e.detail.empty() ? e.code.message() : e.detail));
    }
  }
}

namespace {

// The sweeper's channels: device status (deliveries) and what keeps the published models current.
std::vector<std::string> Channels() {
  std::vector<std::string> channels = catalog::PublishedProducts::Channels();
  channels.emplace_back(store::kChannelDeviceStatus);
  return channels;
}

}  // namespace

void ControlService::SweepLoop() {
  store::Db db(settings_.db);
  std::vector<std::string> product_changes;
  store::Listener listener(settings_.db, Channels(), [&](const store::Notification& n) {
    if (!n.resync && n.channel == store::kChannelDeviceStatus) {
      if (n.payload.ends_with("/online")) {
        std::lock_guard lock(sweep_mutex_);
        deliveries_due_.push_back(Clock::now() + settings_.online_grace + std::chrono::milliseconds(20));
      }
      return;
    }
    if (models_.Apply(n) && n.channel == store::kChannelThingModel) {
      product_changes.push_back(n.payload);
    }
  });
  auto next_sweep = Clock::now();
  while (true) {
    {
      std::lock_guard lock(sweep_mutex_);
      if (sweep_stopping_) {
        return;
      }
    }
    (void)listener.Poll(std::chrono::milliseconds(50));
    for (const std::string& pk : product_changes) {
      try {
        RejectInvalidQueued(db, pk);
      } catch (const std::exception& e) {
        IOT_LOG_WARN(kLog, "msg=\"re-checking queued commands failed\" product=" << pk);
      }
    }
    product_changes.clear();
    const auto now = Clock::now();
    bool due = now >= next_sweep;
    {
      std::lock_guard lock(sweep_mutex_);
      auto passed =
          std::remove_if(deliveries_due_.begin(), deliveries_due_.end(), [&](auto t) { return t <= now; });
      if (passed != deliveries_due_.end()) {
        due = true;
      }
      deliveries_due_.erase(passed, deliveries_due_.end());
    }
    if (!due) {
      continue;
    }
    next_sweep = now + settings_.sweep_interval;
    try {
      Sweep(db);
    } catch (const std::exception& e) {
      IOT_LOG_WARN(kLog, "msg=\"control sweep failed\" what=" << log::Quote(e.what()));
    }
  }
}

}  // namespace iot::api

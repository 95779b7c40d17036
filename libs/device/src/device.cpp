#include "iot/device/device.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <mqtt/async_client.h>

#include "backoff.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/ota.hpp"
#include "iot/alink/session.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/log.hpp"
#include "iot/device/protocol.hpp"
#include "pending.hpp"

namespace iot::device {
namespace {

// Paho action listener forwarding to functions (runs on Paho's thread).
class Listener final : public mqtt::iaction_listener {
 public:
  std::function<void(const mqtt::token&)> success;
  std::function<void(const mqtt::token&)> failure;
  void on_success(const mqtt::token& t) override {
    if (success) {
      success(t);
    }
  }
  void on_failure(const mqtt::token& t) override {
    if (failure) {
      failure(t);
    }
  }
};

enum class State { kIdle, kDisconnected, kConnecting, kSubscribing, kReady, kStopped };

std::string ConnectError(const mqtt::token& t) {
  const int rc = t.get_return_code();
  switch (rc) {
    case 4: return "connect refused: bad user name or password (4)";
    case 5: return "connect refused: not authorized (5)";
    default: break;
  }
  return "connect failed (return code " + std::to_string(rc) + ")";
}

}  // namespace

// A downlink's reply address; the first Reply() wins, an unanswered one is answered 400 on release.
struct Responder::State {
  std::weak_ptr<Device::Core> core;
  std::string topic;
  std::string id;
  std::string method;
  std::atomic<bool> answered{false};

  void Send(int code, const nlohmann::json& data, const std::string& message);
  ~State();
};

// Everything a device shares with Paho's callbacks, the Runtime's timer and Responders. Those hold
// it through weak_ptr, so a Device can go away while they run.
//
// Locks: `gate_` guards `client_` only: shared for every use of the client, unique in Stop() to take
// it away; it is never held while waiting for anything. `mutex_` guards the rest; Paho is never
// called while `mutex_` is held (a failing Paho call may invoke a listener synchronously).
struct Device::Core : std::enable_shared_from_this<Device::Core> {
  Core(DeviceOptions o, std::shared_ptr<Runtime> rt)
      : options(std::move(o)),
        topics(options.product_key, options.device_name),
        runtime(rt),
        backoff(options.reconnect_min, options.reconnect_max, 0.2,
                static_cast<std::uint32_t>(std::random_device{}())),
        pending(PendingSettings{options.window, options.reply_timeout, options.max_attempts,
                                options.request_deadline}) {
    next_id = static_cast<std::uint32_t>(std::random_device{}() % 1000000000U);
  }

  DeviceOptions options;
  DeviceTopics topics;
  std::weak_ptr<Runtime> runtime;

  std::shared_mutex gate_;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> stopped{false};
  Listener connect_listener, subscribe_listener;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  State state = State::kIdle;
  Clock::time_point next_connect{};
  Backoff backoff;
  PendingTable pending;
  std::string last_error;
  DeviceStats stats;
  std::atomic<std::uint32_t> next_id;
  std::int64_t last_ntp_ms = 0;
  // The shadow's one request in flight (its answers carry no id): shadow_call_ serialises callers;
  // the answer is handed over under mutex_.
  std::mutex shadow_call_;
  std::condition_variable shadow_cv_;
  bool shadow_waiting = false;
  std::optional<ShadowReply> shadow_answer;
  ShadowHandler shadow_handler;
  DownlinkHandler property_set_handler;
  DownlinkHandler config_push_handler;
  std::map<std::string, DownlinkHandler, std::less<>> service_handlers;
  ConnectionCallback connection_callback;
  MessageHandler message_handler;
  CustomRrpcHandler custom_rrpc_handler;
  // A gateway's sub-devices: their downlink handlers by "pk/dn", and the state downlinks' handler.
  struct SubHandlers {
    DownlinkHandler property_set;
    std::map<std::string, DownlinkHandler, std::less<>> services;
  };
  std::map<std::string, SubHandlers, std::less<>> sub_handlers;
  std::function<void(const DownlinkRequest&)> sub_state_handler;
  OtaPushHandler ota_push_handler;

  // Runs `f(client)` unless stopped. False when it did not run.
  template <class F>
  bool WithClient(F&& f) {
    std::shared_lock lock(gate_);
    if (stopped || !client_) {
      return false;
    }
    f(*client_);
    return true;
  }

  void Init() {
    // TLS over TCP (ssl://) or over WebSocket (wss://, the broker's listener for browsers).
    const bool tls = options.broker_uri.rfind("ssl://", 0) == 0 || options.broker_uri.rfind("wss://", 0) == 0;
    const alink::ConnectParams credentials =
        alink::MakeConnectParams(options.product_key, options.device_name, options.device_secret,
                                 options.sign_method, std::to_string(NowMs()), tls ? 2 : 3);
    try {
      client_ = std::make_unique<mqtt::async_client>(options.broker_uri, credentials.client_id,
                                                     mqtt::create_options(MQTTVERSION_3_1_1), nullptr);
    } catch (const mqtt::exception& e) {
      throw std::invalid_argument("cannot use broker URI \"" + options.broker_uri + "\": " + e.what());
    }
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(true)
                       .keep_alive_interval(options.keepalive)
                       .connect_timeout(options.connect_timeout)
                       .automatic_reconnect(false)
                       .max_inflight(static_cast<int>(options.window) * 2 + 16)
                       .user_name(credentials.username)
                       .password(credentials.password);
    if (tls) {
      auto ssl = mqtt::ssl_options_builder().enable_server_cert_auth(true);
      if (!options.ca_file.empty()) {
        ssl.trust_store(options.ca_file);
      }
      builder.ssl(ssl.finalize());
    }
    connect_options_ = builder.finalize();

    std::weak_ptr<Core> weak = weak_from_this();
    client_->set_message_callback([weak](mqtt::const_message_ptr m) {
      if (auto c = weak.lock()) {
        c->OnMessage(m->get_topic(), m->get_payload_str());
      }
    });
    client_->set_connection_lost_handler([weak](const std::string& cause) {
      if (auto c = weak.lock()) {
        c->OnConnectionLost(cause.empty() ? "connection lost" : cause);
      }
    });
    connect_listener.success = [weak](const mqtt::token&) {
      if (auto c = weak.lock()) {
        c->OnConnected();
      }
    };
    connect_listener.failure = [weak](const mqtt::token& t) {
      if (auto c = weak.lock()) {
        c->OnConnectFailed(ConnectError(t));
      }
    };
    subscribe_listener.success = [weak](const mqtt::token& t) {
      auto c = weak.lock();
      if (!c) {
        return;
      }
      bool refused = false;
      try {
        const mqtt::subscribe_response response = t.get_subscribe_response();
        for (auto code : response.get_reason_codes()) {
          if (static_cast<int>(code) >= 0x80) {
            refused = true;
          }
        }
      } catch (const std::exception&) {
      }
      if (refused) {
        c->OnSubscribeFailed("subscription refused by the broker");
      } else {
        c->OnSubscribed();
      }
    };
    subscribe_listener.failure = [weak](const mqtt::token&) {
      if (auto c = weak.lock()) {
        c->OnSubscribeFailed("subscribe failed");
      }
    };
  }

  mqtt::connect_options connect_options_;

  // --- connection ---------------------------------------------------------------------------

  void TryConnect() {
    {
      std::lock_guard lock(mutex_);
      if (state != State::kDisconnected) {
        return;
      }
      state = State::kConnecting;
    }
    bool started = false;
    std::string error;
    WithClient([&](mqtt::async_client& c) {
      try {
        c.connect(connect_options_, nullptr, connect_listener);
        started = true;
      } catch (const mqtt::exception& e) {
        error = e.what();
      }
    });
    if (!started && !stopped) {
      OnConnectFailed(error.empty() ? "connect failed" : error);
    }
  }

  void OnConnected() {
    {
      std::lock_guard lock(mutex_);
      if (state != State::kConnecting) {
        return;
      }
      state = State::kSubscribing;
      ++stats.connects;
    }
    std::vector<std::string> filters =
        options.gateway ? topics.GatewaySubscriptions() : topics.Subscriptions();
    // Before NTP's filter, which stays last (QoS 0).
    std::vector<std::string> extra = options.subscriptions;
    if (options.ext_rrpc_services) {
      extra.push_back("/ext/rrpc/+/sys/" + options.product_key + "/" + options.device_name +
                      "/thing/service/+");
    }
    bool ota = false;
    {
      std::lock_guard lock(mutex_);
      ota = static_cast<bool>(ota_push_handler);
    }
    if (ota) {
      extra.push_back(OtaTopic("upgrade"));
    }
    filters.insert(filters.end() - 1, extra.begin(), extra.end());
    mqtt::iasync_client::qos_collection qos(filters.size(), 1);
    qos.back() = 0;  // NTP is QoS 0 only (reference §2.15)
    bool ok = false;
    WithClient([&](mqtt::async_client& c) {
      try {
        c.subscribe(mqtt::string_collection::create(filters), qos, nullptr, subscribe_listener);
        ok = true;
      } catch (const mqtt::exception&) {
      }
    });
    if (!ok && !stopped) {
      OnSubscribeFailed("subscribe failed");
    }
  }

  void OnSubscribed() {
    ConnectionCallback cb;
    {
      std::lock_guard lock(mutex_);
      if (state != State::kSubscribing) {
        return;
      }
      state = State::kReady;
      backoff.Reset();
      last_error.clear();
      cb = connection_callback;
    }
    cv_.notify_all();
    IOT_LOG_DEBUG("device",
                  "msg=\"ready\" device=" << log::Quote(options.product_key + "/" + options.device_name));
    if (cb) {
      Dispatch([cb] { cb(true, ""); });
    }
    Pump(Clock::now());  // what waited for the connection goes out now
  }

  void ScheduleReconnect(const std::string& cause) {
    // mutex_ held by the caller
    state = State::kDisconnected;
    last_error = cause;
    next_connect = Clock::now() + backoff.Next();
  }

  void OnConnectFailed(const std::string& cause) {
    {
      std::lock_guard lock(mutex_);
      if (state != State::kConnecting) {
        return;
      }
      ScheduleReconnect(cause);
    }
    IOT_LOG_DEBUG("device", "msg=\"connect failed\" device=" << log::Quote(options.device_name)
                                                             << " cause=" << log::Quote(cause));
  }

  void OnSubscribeFailed(const std::string& cause) {
    {
      std::lock_guard lock(mutex_);
      if (state != State::kSubscribing) {
        return;
      }
      ScheduleReconnect(cause);
    }
    WithClient([](mqtt::async_client& c) {
      try {
        c.disconnect(0);
      } catch (const mqtt::exception&) {
      }
    });
  }

  void OnConnectionLost(const std::string& cause) {
    ConnectionCallback cb;
    {
      std::lock_guard lock(mutex_);
      if (state == State::kStopped) {
        return;
      }
      const bool was_ready = state == State::kReady;
      ++stats.connection_losses;
      pending.ConnectionLost();
      ScheduleReconnect(cause);
      if (was_ready) {
        cb = connection_callback;
      }
    }
    IOT_LOG_DEBUG("device", "msg=\"connection lost\" device=" << log::Quote(options.device_name)
                                                              << " cause=" << log::Quote(cause));
    if (cb) {
      Dispatch([cb, cause] { cb(false, cause); });
    }
  }

  // Timer thread, every tick. False once stopped (the Runtime then forgets us).
  bool Tick(Clock::time_point now) {
    if (stopped) {
      return false;
    }
    bool connect = false;
    {
      std::lock_guard lock(mutex_);
      connect = state == State::kDisconnected && now >= next_connect;
    }
    if (connect) {
      TryConnect();
    }
    Pump(now);
    return true;
  }

  // --- requests -------------------------------------------------------------------------------

  void Dispatch(std::function<void()> task) {
    if (auto rt = runtime.lock()) {
      rt->PostAlways(std::move(task));
    }
  }

  void Finish(PendingRequest& request, Reply reply) {
    if (!request.done) {
      return;
    }
    if (request.inline_done) {
      request.done(reply);
    } else {
      Dispatch([done = std::move(request.done), reply = std::move(reply)] { done(reply); });
    }
  }

  // Publishes what is due and ends what ran out of attempts or time.
  void Pump(Clock::time_point now) {
    std::vector<Send> sends;
    std::vector<PendingRequest> expired;
    {
      std::lock_guard lock(mutex_);
      if (state == State::kStopped) {
        return;
      }
      pending.Due(now, state == State::kReady, sends, expired);
      for (const Send& s : sends) {
        ++stats.publishes;
        if (s.attempt > 1) {
          ++stats.resends;
        }
      }
      stats.timeouts += expired.size();
    }
    for (const Send& s : sends) {
      bool ok = false;
      WithClient([&](mqtt::async_client& c) {
        try {
          c.publish(s.topic, s.payload.data(), s.payload.size(), s.qos, false);
          ok = true;
        } catch (const mqtt::exception&) {
        }
      });
      if (!ok) {
        std::lock_guard lock(mutex_);
        pending.Unsent(s.key);  // retried on the next tick
      }
    }
    if (!expired.empty()) {
      cv_.notify_all();
    }
    for (PendingRequest& r : expired) {
      Reply reply;
      reply.outcome = Outcome::kTimedOut;
      reply.id = r.key;
      reply.attempts = r.attempts;
      Finish(r, std::move(reply));
    }
  }

  std::string NewId() { return std::to_string(next_id.fetch_add(1) % 4294967295U); }

  // Adds a request; kWindowFull / kStopped when it could not be.
  Outcome Submit(PendingRequest request, bool wait_for_slot) {
    {
      std::unique_lock lock(mutex_);
      if (wait_for_slot) {
        cv_.wait_for(lock, options.request_deadline,
                     [&] { return state == State::kStopped || !pending.Full(); });
      }
      if (state == State::kStopped || stopped) {
        return Outcome::kStopped;
      }
      if (!pending.Add(std::move(request), Clock::now())) {
        return Outcome::kWindowFull;
      }
    }
    Pump(Clock::now());
    return Outcome::kReplied;  // "accepted"; the reply comes through `done`
  }

  PendingRequest MakeRequest(std::string topic, std::string_view method, const nlohmann::json& params,
                             bool post) {
    PendingRequest r;
    r.key = NewId();
    r.payload = alink::BuildRequest(r.key, method, params);
    r.reply_topic = topic + "_reply";
    r.topic = std::move(topic);
    r.qos = options.qos;
    r.post = post;
    return r;
  }

  Outcome SubmitAsync(PendingRequest r, ReplyCallback done) {
    r.done = std::move(done);
    return Submit(std::move(r), false);
  }

  Reply SubmitAndWait(PendingRequest r) {
    auto promise = std::make_shared<std::promise<Reply>>();
    std::future<Reply> future = promise->get_future();
    r.done = [promise](const Reply& reply) { promise->set_value(reply); };
    r.inline_done = true;
    const std::string id = r.key;
    const Outcome accepted = Submit(std::move(r), true);
    if (accepted != Outcome::kReplied) {
      Reply reply;
      reply.outcome = accepted == Outcome::kWindowFull ? Outcome::kTimedOut : accepted;
      reply.id = id;
      return reply;
    }
    // Every request ends (reply, expiry by the timer, or Stop), so this wait is bounded; the
    // margin only covers a Runtime that was destroyed under us.
    if (future.wait_for(options.request_deadline + std::chrono::seconds(5)) != std::future_status::ready) {
      Reply reply;
      reply.outcome = Outcome::kTimedOut;
      reply.id = id;
      return reply;
    }
    return future.get();
  }

  // --- inbound (Paho's thread: parse, complete, enqueue; never user code) ---------------------

  void OnMessage(const std::string& topic_text, const std::string& payload) {
    if (stopped) {
      return;
    }
    auto topic = alink::ParseTopic(topic_text);
    if (!topic) {
      if (topic_text.starts_with("/broadcast/")) {
        OnCustomMessage(topic_text, payload);
      }
      return;
    }
    switch (topic->kind) {
      case alink::TopicKind::kPropertyPost:
      case alink::TopicKind::kEventPost:
      case alink::TopicKind::kDesiredGet:
      case alink::TopicKind::kDesiredDelete:
      case alink::TopicKind::kDslTemplateGet:
      case alink::TopicKind::kConfigGet:
      case alink::TopicKind::kOtaFirmwareGet:
      case alink::TopicKind::kTopoAdd:
      case alink::TopicKind::kTopoDelete:
      case alink::TopicKind::kTopoGet:
      case alink::TopicKind::kPropertyPackPost:
      case alink::TopicKind::kSessionLogin:
      case alink::TopicKind::kSessionLogout:
      case alink::TopicKind::kSessionBatchLogin:
      case alink::TopicKind::kSessionBatchLogout:
        if (topic->reply) {
          OnReply(*topic, topic_text, payload);
        }
        return;
      case alink::TopicKind::kPropertySet:
        if (!topic->reply) {
          OnDownlink(*topic, topic_text, payload);
        }
        return;
      case alink::TopicKind::kServiceCall:
        if (!topic->reply) {
          OnDownlink(*topic, topic_text, payload);  // else: our own reply
        }
        return;
      case alink::TopicKind::kConfigPush:
        if (!topic->reply) {
          OnDownlink(*topic, topic_text, payload);
        }
        return;
      case alink::TopicKind::kRrpcRequest: OnDownlink(*topic, topic_text, payload); return;
      case alink::TopicKind::kDisable:
      case alink::TopicKind::kEnable:
      case alink::TopicKind::kDelete:
        if (!topic->reply) {
          OnSubDeviceState(*topic, topic_text, payload);
        }
        return;
      case alink::TopicKind::kExtRrpc:
        if (topic->suffix.starts_with("sys/")) {
          OnDownlink(*topic, topic_text, payload);  // RRPC_NEW sync service, answered on this topic
        } else {
          OnCustomRrpc(*topic, topic_text, payload);
        }
        return;
      case alink::TopicKind::kUserTopic: OnCustomMessage(topic_text, payload); return;
      case alink::TopicKind::kNtpResponse: OnNtpResponse(topic_text, payload); return;
      case alink::TopicKind::kShadowGet: OnShadow(payload); return;
      case alink::TopicKind::kOtaUpgrade: OnOtaPush(payload); return;
      default: return;
    }
  }

  void OnCustomMessage(const std::string& topic_text, const std::string& payload) {
    MessageHandler handler;
    {
      std::lock_guard lock(mutex_);
      handler = message_handler;
    }
    auto rt = runtime.lock();
    if (handler && rt) {
      (void)rt->Post([handler, topic_text, payload] { handler(topic_text, payload); });
    }
  }

  void OnCustomRrpc(const alink::Topic& topic, const std::string& topic_text, const std::string& payload) {
    CustomRrpcHandler handler;
    {
      std::lock_guard lock(mutex_);
      handler = custom_rrpc_handler;
    }
    auto rt = runtime.lock();
    if (!handler || !rt) {
      return;
    }
    std::weak_ptr<Core> weak = weak_from_this();
    auto answered = std::make_shared<std::atomic<bool>>(false);
    (void)rt->Post([handler, inner = topic.suffix, topic_text, payload, weak, answered] {
      handler(inner, payload, [weak, topic_text, answered](const std::string& answer) {
        if (answered->exchange(true)) {
          return;
        }
        if (auto core = weak.lock()) {
          core->PublishRaw(topic_text, answer, 0);
        }
      });
    });
  }

  bool PublishRaw(const std::string& topic, const std::string& payload, int qos) {
    bool ok = false;
    WithClient([&](mqtt::async_client& c) {
      try {
        if (c.is_connected()) {
          c.publish(topic, payload.data(), payload.size(), qos, false);
          ok = true;
        }
      } catch (const mqtt::exception& e) {
        IOT_LOG_DEBUG("device", "msg=\"publish failed\" topic=" << log::Quote(topic)
                                                                << " error=" << log::Quote(e.what()));
      }
    });
    return ok;
  }

  void OnReply(const alink::Topic& topic, const std::string& topic_text, const std::string& payload) {
    Reply reply;
    const bool post =
        topic.kind == alink::TopicKind::kPropertyPost || topic.kind == alink::TopicKind::kEventPost;
    if (!ParseReplyPayload(payload, post, reply)) {
      return;
    }
    reply.outcome = Outcome::kReplied;
    const std::string key = reply.id;  // not reply.id itself: the argument is moved from
    Complete(key, topic_text, std::move(reply));
  }

  std::string OtaTopic(std::string_view op) const {
    return "/ota/device/" + std::string(op) + "/" + options.product_key + "/" + options.device_name;
  }

  // An upgrade push ({"code":"1000","data":{...},"id","message"}): its package to the handler.
  void OnOtaPush(const std::string& payload) {
    nlohmann::json root = nlohmann::json::parse(payload, nullptr, false);
    if (!root.is_object() || !root.contains("data")) {
      return;
    }
    auto package = alink::DecodeOtaPackage(root["data"]);
    if (!package) {
      IOT_LOG_DEBUG("device", "msg=\"bad OTA push\" error=" << log::Quote(package.error().message()));
      return;
    }
    OtaPushHandler handler;
    {
      std::lock_guard lock(mutex_);
      ++stats.downlinks;
      handler = ota_push_handler;
    }
    auto rt = runtime.lock();
    if (handler && rt) {
      rt->PostAlways([handler, package = std::move(*package)] { handler(package); });
    }
  }

  void OnShadow(const std::string& payload) {
    ShadowReply reply;
    if (!ParseShadowMessage(payload, reply)) {
      return;
    }
    reply.outcome = Outcome::kReplied;
    if (reply.method == "control") {
      ShadowHandler handler;
      {
        std::lock_guard lock(mutex_);
        ++stats.downlinks;
        handler = shadow_handler;
      }
      auto rt = runtime.lock();
      if (handler && rt) {
        rt->PostAlways([handler, reply = std::move(reply)] {
          try {
            handler(reply);
          } catch (const std::exception&) {  // nothing to answer: the device asks again (get)
          }
        });
      }
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (!shadow_waiting || shadow_answer) {
        return;  // late, or not asked for
      }
      shadow_answer = std::move(reply);
    }
    shadow_cv_.notify_all();
  }

  ShadowReply Shadow(const std::string& payload) {
    std::lock_guard call(shadow_call_);
    {
      std::lock_guard lock(mutex_);
      shadow_answer.reset();
      shadow_waiting = true;
    }
    bool published = false;
    WithClient([&](mqtt::async_client& c) {
      try {
        c.publish(topics.ShadowUpdate(), payload.data(), payload.size(), options.qos, false);
        published = true;
      } catch (const mqtt::exception&) {
      }
    });
    ShadowReply out;
    std::unique_lock lock(mutex_);
    if (published) {
      shadow_cv_.wait_for(lock, options.request_deadline,
                          [&] { return shadow_answer.has_value() || stopped; });
    }
    shadow_waiting = false;
    if (shadow_answer) {
      out = std::move(*shadow_answer);
      shadow_answer.reset();
    } else {
      out.outcome = stopped ? Outcome::kStopped : Outcome::kTimedOut;
    }
    return out;
  }

  void OnNtpResponse(const std::string& topic_text, const std::string& payload) {
    const std::int64_t recv_ms = NowMs();
    auto r = ParseNtpResponse(payload);
    if (!r) {
      return;
    }
    Reply reply;
    reply.outcome = Outcome::kReplied;
    reply.code = 200;
    reply.data = {{"deviceSendTime", r->device_send_ms},
                  {"serverRecvTime", r->server_recv_ms},
                  {"serverSendTime", r->server_send_ms},
                  {"deviceRecvTime", recv_ms}};
    Complete("ntp:" + std::to_string(r->device_send_ms), topic_text, std::move(reply));
  }

  void Complete(const std::string& key, const std::string& topic_text, Reply reply) {
    std::optional<PendingRequest> request;
    const Clock::time_point now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      request = pending.Complete(key, topic_text);
      if (!request) {
        return;  // a late answer to a request that already ended, or not ours
      }
      ++stats.replies;
    }
    cv_.notify_all();
    reply.attempts = request->attempts;
    reply.latency = std::chrono::duration_cast<std::chrono::microseconds>(now - request->first_sent);
    if (key.rfind("ntp:", 0) == 0) {
      reply.id = key;
    }
    Finish(*request, std::move(reply));
  }

  void OnDownlink(const alink::Topic& topic, const std::string& topic_text, const std::string& payload) {
    auto decoded = alink::DecodeRequest(payload);
    if (!decoded) {
      return;  // no id to answer to
    }
    auto reply_topic = alink::ReplyTopicFor(topic);
    if (!reply_topic) {
      return;
    }
    DownlinkRequest request;
    request.id = decoded->id;
    request.method = decoded->method;
    request.params = std::move(*decoded->params);
    request.topic = topic_text;
    request.product_key = topic.product_key.empty() ? options.product_key : topic.product_key;
    request.device_name = topic.device_name.empty() ? options.device_name : topic.device_name;
    const bool own = request.product_key == options.product_key && request.device_name == options.device_name;
    if (topic.kind == alink::TopicKind::kPropertySet) {
      request.kind = DownlinkKind::kPropertySet;
      request.identifier = "set";
    } else if (topic.kind == alink::TopicKind::kConfigPush) {
      request.kind = DownlinkKind::kConfigPush;
      request.identifier = "config.push";
    } else if (topic.kind == alink::TopicKind::kServiceCall) {
      request.identifier = topic.identifier;
    } else {  // RRPC: the method names the service
      request.sync = true;
      request.rrpc_message_id = topic.message_id;
      constexpr std::string_view kPrefix = "thing.service.";
      std::string_view method = request.method;
      if (method.substr(0, kPrefix.size()) == kPrefix) {
        method.remove_prefix(kPrefix.size());
      }
      if (method == "property.set") {
        request.kind = DownlinkKind::kPropertySet;
        request.identifier = "set";
      } else {
        request.identifier = std::string(method);
      }
    }
    auto state = std::make_shared<Responder::State>();
    state->core = weak_from_this();
    state->topic = alink::FormatTopic(*reply_topic);
    state->id = request.id;
    state->method = request.method.empty() ? alink::ExpectedMethod(topic) : request.method;

    DownlinkHandler handler;
    {
      std::lock_guard lock(mutex_);
      ++stats.downlinks;
      if (!own) {
        handler = SubHandler(request);
      } else if (request.kind == DownlinkKind::kPropertySet) {
        handler = property_set_handler;
      } else if (request.kind == DownlinkKind::kConfigPush) {
        handler = config_push_handler;
      } else if (auto it = service_handlers.find(request.identifier); it != service_handlers.end()) {
        handler = it->second;
      } else if (auto any = service_handlers.find(""); any != service_handlers.end()) {
        handler = any->second;
      }
    }
    if (!handler) {
      Responder(state).Reply(codes::kParamError, nlohmann::json::object(),
                             "no handler for " + request.identifier);
      return;
    }
    auto rt = runtime.lock();
    const bool queued = rt && rt->Post([handler, request = std::move(request), state]() {
      try {
        handler(request, Responder(state));
      } catch (const std::exception& e) {
        Responder(state).Reply(codes::kRequestError, nlohmann::json::object(),
                               std::string("handler failed: ") + e.what());
      }
    });
    if (!queued) {
      {
        std::lock_guard lock(mutex_);
        ++stats.busy;
      }
      Responder(state).Reply(codes::kTooManyRequests, nlohmann::json::object(), "device busy");
    }
  }

  // mutex_ held. The handler of a downlink addressed to one of the gateway's sub-devices.
  DownlinkHandler SubHandler(const DownlinkRequest& request) const {
    const auto sub = sub_handlers.find(request.product_key + "/" + request.device_name);
    if (sub == sub_handlers.end()) {
      return {};
    }
    if (request.kind == DownlinkKind::kPropertySet) {
      return sub->second.property_set;
    }
    if (request.kind != DownlinkKind::kService) {
      return {};
    }
    if (auto it = sub->second.services.find(request.identifier); it != sub->second.services.end()) {
      return it->second;
    }
    if (auto any = sub->second.services.find(""); any != sub->second.services.end()) {
      return any->second;
    }
    return {};
  }

  // thing.disable / enable / delete of a sub-device: the application is told; nothing is answered
  // (the sub-device's topics are closed to the gateway once its session ended).
  void OnSubDeviceState(const alink::Topic& topic, const std::string& topic_text,
                        const std::string& payload) {
    auto decoded = alink::DecodeRequest(payload);
    DownlinkRequest request;
    request.kind = DownlinkKind::kSubDeviceState;
    request.identifier = topic.kind == alink::TopicKind::kDisable  ? "disable"
                         : topic.kind == alink::TopicKind::kEnable ? "enable"
                                                                   : "delete";
    if (decoded) {
      request.id = decoded->id;
      request.method = decoded->method;
      if (decoded->params->is_object()) {
        request.params = *decoded->params;
      }
    }
    request.topic = topic_text;
    request.product_key = topic.product_key;
    request.device_name = topic.device_name;
    std::function<void(const DownlinkRequest&)> handler;
    {
      std::lock_guard lock(mutex_);
      ++stats.downlinks;
      handler = sub_state_handler;
    }
    if (handler) {
      Dispatch([handler, request = std::move(request)] {
        try {
          handler(request);
        } catch (const std::exception&) {  // nothing to answer
        }
      });
    }
  }

  bool PublishReply(const std::string& topic, const std::string& payload) {
    bool ok = false;
    WithClient([&](mqtt::async_client& c) {
      try {
        c.publish(topic, payload.data(), payload.size(), options.qos, false);
        ok = true;
      } catch (const mqtt::exception& e) {
        IOT_LOG_DEBUG("device", "msg=\"reply publish failed\" topic=" << log::Quote(topic)
                                                                      << " error=" << log::Quote(e.what()));
      }
    });
    return ok;
  }

  // --- stop -------------------------------------------------------------------------------------

  void Stop() {
    if (stopped.exchange(true)) {
      return;
    }
    std::vector<PendingRequest> left;
    {
      std::lock_guard lock(mutex_);
      state = State::kStopped;
      left = pending.TakeAll();
    }
    cv_.notify_all();
    shadow_cv_.notify_all();
    for (PendingRequest& r : left) {
      Reply reply;
      reply.outcome = Outcome::kStopped;
      reply.id = r.key;
      reply.attempts = r.attempts;
      Finish(r, std::move(reply));
    }
    std::unique_ptr<mqtt::async_client> client;
    {
      std::unique_lock lock(gate_);  // waits for any use of the client in progress
      client = std::move(client_);
    }
    if (!client) {
      return;
    }
    try {
      if (client->is_connected()) {
        client->disconnect(1000)->wait_for(std::chrono::seconds(2));
      }
    } catch (const mqtt::exception&) {
    }
    client.reset();
  }
};

// --- Responder -----------------------------------------------------------------------------------

void Responder::State::Send(int code, const nlohmann::json& data, const std::string& message) {
  if (answered.exchange(true)) {
    return;
  }
  auto c = core.lock();
  if (!c) {
    return;
  }
  const std::string payload =
      alink::BuildReply(id, code, method, data, message.empty() ? alink::DefaultMessage(code) : message);
  c->PublishReply(topic, payload);
}

Responder::State::~State() {
  if (!answered) {
    Send(codes::kRequestError, nlohmann::json::object(), "the device did not answer");
  }
}

void Responder::Reply(int code, nlohmann::json data, std::string message) {
  if (state_) {
    state_->Send(code, data, message);
  }
}

bool Responder::Answered() const { return state_ && state_->answered; }

// --- Device --------------------------------------------------------------------------------------

Device::Device(DeviceOptions options) {
  auto runtime = options.runtime ? options.runtime : std::make_shared<Runtime>();
  options.runtime = runtime;
  if (options.window == 0) {
    options.window = 1;
  }
  if (options.max_attempts < 1) {
    options.max_attempts = 1;
  }
  core_ = std::make_shared<Core>(std::move(options), runtime);
  core_->Init();
}

Device::~Device() {
  Stop();
  // Let callbacks that were running when the client went away drop their references, so the last
  // one (and a private Runtime) goes here rather than on Paho's thread.
  for (int i = 0; i < 200 && core_.use_count() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  core_.reset();
}

void Device::OnPropertySet(DownlinkHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->property_set_handler = std::move(handler);
}

void Device::OnConfigPush(DownlinkHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->config_push_handler = std::move(handler);
}

void Device::OnService(std::string identifier, DownlinkHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->service_handlers[std::move(identifier)] = std::move(handler);
}

void Device::OnMessage(MessageHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->message_handler = std::move(handler);
}

void Device::OnCustomRrpc(CustomRrpcHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->custom_rrpc_handler = std::move(handler);
}

bool Device::Publish(const std::string& topic, const std::string& payload, int qos) {
  return core_->PublishRaw(topic, payload, qos);
}

void Device::OnOtaPush(OtaPushHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->ota_push_handler = std::move(handler);
}

bool Device::InformVersion(std::string_view version, std::string_view module) {
  return core_->PublishRaw(core_->OtaTopic("inform"), alink::BuildOtaInform(core_->NewId(), version, module),
                           core_->options.qos);
}

bool Device::ReportOtaProgress(int step, std::string_view desc, std::string_view module) {
  return core_->PublishRaw(core_->OtaTopic("progress"),
                           alink::BuildOtaProgress(core_->NewId(), step, desc, module), core_->options.qos);
}

void Device::OnConnectionChange(ConnectionCallback callback) {
  std::lock_guard lock(core_->mutex_);
  core_->connection_callback = std::move(callback);
}

void Device::Start() {
  {
    std::lock_guard lock(core_->mutex_);
    if (core_->state != State::kIdle) {
      return;
    }
    core_->state = State::kDisconnected;
    core_->next_connect = Clock::now();
  }
  if (auto rt = core_->runtime.lock()) {
    std::weak_ptr<Core> weak = core_;
    rt->AddTicker([weak](Runtime::TimePoint now) {
      auto c = weak.lock();
      return c && c->Tick(now);
    });
  }
  core_->TryConnect();
}

bool Device::WaitReady(std::chrono::milliseconds timeout) {
  std::unique_lock lock(core_->mutex_);
  return core_->cv_.wait_for(lock, timeout, [&] {
    return core_->state == State::kReady || core_->state == State::kStopped;
  }) && core_->state == State::kReady;
}

void Device::Stop() { core_->Stop(); }

bool Device::IsReady() const {
  std::lock_guard lock(core_->mutex_);
  return core_->state == State::kReady;
}

std::string Device::LastError() const {
  std::lock_guard lock(core_->mutex_);
  return core_->last_error;
}

DeviceStats Device::Stats() const {
  std::lock_guard lock(core_->mutex_);
  return core_->stats;
}

const DeviceOptions& Device::options() const { return core_->options; }

namespace {

bool ValidParams(const nlohmann::json& params) { return params.is_object(); }

Reply Invalid(std::string message) {
  Reply r;
  r.outcome = Outcome::kInvalid;
  r.message = std::move(message);
  return r;
}

nlohmann::json EventParams(const nlohmann::json& outputs, std::optional<std::int64_t> time_ms) {
  return {{"value", outputs}, {"time", time_ms.value_or(NowMs())}};
}

// Property and event posts of the device itself or, over a gateway's connection, of a sub-device
// (`topics` names whose): argument checks, then one request.
Reply PostPropertiesOn(Device::Core& core, const DeviceTopics& topics, const nlohmann::json& params) {
  if (!ValidParams(params)) {
    return Invalid("params must be a JSON object");
  }
  return core.SubmitAndWait(
      core.MakeRequest(topics.PropertyPost(), "thing.event.property.post", params, true));
}

Outcome PostPropertiesAsyncOn(Device::Core& core, const DeviceTopics& topics, const nlohmann::json& params,
                              ReplyCallback done) {
  if (!ValidParams(params)) {
    return Outcome::kInvalid;
  }
  return core.SubmitAsync(core.MakeRequest(topics.PropertyPost(), "thing.event.property.post", params, true),
                          std::move(done));
}

Reply PostEventOn(Device::Core& core, const DeviceTopics& topics, std::string_view event_id,
                  const nlohmann::json& outputs, std::optional<std::int64_t> time_ms) {
  if (!alink::IsValidIdentifier(event_id)) {
    return Invalid("invalid event identifier");
  }
  if (!ValidParams(outputs)) {
    return Invalid("event outputs must be a JSON object");
  }
  return core.SubmitAndWait(core.MakeRequest(topics.EventPost(event_id),
                                             "thing.event." + std::string(event_id) + ".post",
                                             EventParams(outputs, time_ms), true));
}

Outcome PostEventAsyncOn(Device::Core& core, const DeviceTopics& topics, std::string_view event_id,
                         const nlohmann::json& outputs, std::optional<std::int64_t> time_ms,
                         ReplyCallback done) {
  if (!alink::IsValidIdentifier(event_id) || !ValidParams(outputs)) {
    return Outcome::kInvalid;
  }
  return core.SubmitAsync(
      core.MakeRequest(topics.EventPost(event_id), "thing.event." + std::string(event_id) + ".post",
                       EventParams(outputs, time_ms), true),
      std::move(done));
}

}  // namespace

Reply Device::PostProperties(const nlohmann::json& params) {
  return PostPropertiesOn(*core_, core_->topics, params);
}

Outcome Device::PostPropertiesAsync(const nlohmann::json& params, ReplyCallback done) {
  return PostPropertiesAsyncOn(*core_, core_->topics, params, std::move(done));
}

Reply Device::PostEvent(std::string_view event_id, const nlohmann::json& outputs,
                        std::optional<std::int64_t> time_ms) {
  return PostEventOn(*core_, core_->topics, event_id, outputs, time_ms);
}

Outcome Device::PostEventAsync(std::string_view event_id, const nlohmann::json& outputs,
                               std::optional<std::int64_t> time_ms, ReplyCallback done) {
  return PostEventAsyncOn(*core_, core_->topics, event_id, outputs, time_ms, std::move(done));
}

Reply Device::GetDesired(const std::vector<std::string>& identifiers) {
  return core_->SubmitAndWait(core_->MakeRequest(core_->topics.DesiredGet(), "thing.property.desired.get",
                                                 nlohmann::json(identifiers), false));
}

Reply Device::DeleteDesired(const nlohmann::json& params) {
  if (!ValidParams(params)) {
    return Invalid("params must be a JSON object");
  }
  return core_->SubmitAndWait(
      core_->MakeRequest(core_->topics.DesiredDelete(), "thing.property.desired.delete", params, false));
}

Reply Device::GetConfig() {
  return core_->SubmitAndWait(core_->MakeRequest(core_->topics.ConfigGet(), "thing.config.get",
                                                 {{"configScope", "product"}, {"getType", "file"}}, false));
}

Reply Device::GetFirmware(std::string_view module) {
  nlohmann::json params = nlohmann::json::object();
  if (!module.empty()) {
    params["module"] = std::string(module);
  }
  return core_->SubmitAndWait(
      core_->MakeRequest(core_->topics.OtaFirmwareGet(), "thing.ota.firmware.get", params, false));
}

Reply Device::GetThingModel() {
  return core_->SubmitAndWait(core_->MakeRequest(core_->topics.DslTemplateGet(), "thing.dsltemplate.get",
                                                 nlohmann::json::object(), false));
}

TimeSync Device::SyncTime() {
  PendingRequest r;
  std::int64_t send_ms = NowMs();
  {
    // Unique deviceSendTime per request: it is how the response is matched.
    std::lock_guard lock(core_->mutex_);
    send_ms = std::max(send_ms, core_->last_ntp_ms + 1);
    core_->last_ntp_ms = send_ms;
  }
  r.key = "ntp:" + std::to_string(send_ms);
  r.topic = core_->topics.NtpRequest();
  r.reply_topic = "/ext/ntp/" + core_->options.product_key + "/" + core_->options.device_name + "/response";
  r.payload = BuildNtpRequest(send_ms);
  r.qos = 0;
  Reply reply = core_->SubmitAndWait(std::move(r));
  TimeSync sync;
  sync.outcome = reply.outcome;
  if (reply.outcome != Outcome::kReplied) {
    return sync;
  }
  NtpResponse response{reply.data.value("deviceSendTime", std::int64_t{0}),
                       reply.data.value("serverRecvTime", std::int64_t{0}),
                       reply.data.value("serverSendTime", std::int64_t{0})};
  return ComputeTimeSync(response, reply.data.value("deviceRecvTime", std::int64_t{0}));
}

ShadowReply Device::ShadowReport(const nlohmann::json& reported, std::int64_t version) {
  return core_->Shadow(BuildShadowRequest("update", {{"reported", reported}}, version));
}

ShadowReply Device::ShadowGet() { return core_->Shadow(BuildShadowRequest("get", nullptr, std::nullopt)); }

ShadowReply Device::ShadowDelete(const nlohmann::json& reported, std::int64_t version) {
  return core_->Shadow(BuildShadowRequest("delete", {{"reported", reported}}, version));
}

ShadowReply Device::ShadowSend(const std::string& message) { return core_->Shadow(message); }

void Device::OnShadowControl(ShadowHandler handler) {
  std::lock_guard lock(core_->mutex_);
  core_->shadow_handler = std::move(handler);
}

// --- Gateways ------------------------------------------------------------------------------------

namespace {

nlohmann::json DeviceKeys(const std::vector<SubDeviceIdentity>& subs) {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& sub : subs) {
    keys.push_back({{"productKey", sub.product_key}, {"deviceName", sub.device_name}});
  }
  return keys;
}

Reply Stopped() {
  Reply r;
  r.outcome = Outcome::kStopped;
  return r;
}

}  // namespace

Reply Device::AddTopology(const std::vector<SubDeviceIdentity>& subs) {
  if (subs.empty()) {
    return Invalid("no sub-devices");
  }
  nlohmann::json params = nlohmann::json::array();
  const std::int64_t now = NowMs();
  for (const auto& sub : subs) {
    params.push_back(SubDeviceSignParams(sub, now, false));
  }
  return core_->SubmitAndWait(core_->MakeRequest(core_->topics.TopoAdd(), "thing.topo.add", params, false));
}

Reply Device::DeleteTopology(const std::vector<SubDeviceIdentity>& subs) {
  if (subs.empty()) {
    return Invalid("no sub-devices");
  }
  return core_->SubmitAndWait(
      core_->MakeRequest(core_->topics.TopoDelete(), "thing.topo.delete", DeviceKeys(subs), false));
}

Reply Device::GetTopology() {
  return core_->SubmitAndWait(
      core_->MakeRequest(core_->topics.TopoGet(), "thing.topo.get", nlohmann::json::object(), false));
}

namespace {

// Session requests go at QoS 0, as Alibaba allows (they are resent like any request).
PendingRequest SessionRequest(Device::Core& core, alink::TopicKind kind, const nlohmann::json& params) {
  PendingRequest r = core.MakeRequest(core.topics.Session(kind), alink::SessionMethod(kind), params, false);
  r.qos = 0;
  return r;
}

}  // namespace

Reply Device::LoginSubDevice(const SubDeviceIdentity& sub) {
  return core_->SubmitAndWait(
      SessionRequest(*core_, alink::TopicKind::kSessionLogin, SubDeviceSignParams(sub, NowMs(), true)));
}

Reply Device::LogoutSubDevice(const SubDeviceIdentity& sub) {
  return core_->SubmitAndWait(
      SessionRequest(*core_, alink::TopicKind::kSessionLogout,
                     {{"productKey", sub.product_key}, {"deviceName", sub.device_name}}));
}

std::vector<Reply> Device::LoginSubDevices(const std::vector<SubDeviceIdentity>& subs) {
  std::vector<Reply> replies;
  const std::int64_t now = NowMs();
  for (std::size_t at = 0; at < subs.size(); at += alink::kMaxSessionBatch) {
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t i = at; i < std::min(subs.size(), at + alink::kMaxSessionBatch); ++i) {
      list.push_back(SubDeviceSignParams(subs[i], now, true));
    }
    replies.push_back(core_->SubmitAndWait(
        SessionRequest(*core_, alink::TopicKind::kSessionBatchLogin, {{"deviceList", std::move(list)}})));
  }
  return replies;
}

std::vector<Reply> Device::LogoutSubDevices(const std::vector<SubDeviceIdentity>& subs) {
  std::vector<Reply> replies;
  for (std::size_t at = 0; at < subs.size(); at += alink::kMaxSessionBatch) {
    const std::vector<SubDeviceIdentity> part(
        subs.begin() + static_cast<std::ptrdiff_t>(at),
        subs.begin() + static_cast<std::ptrdiff_t>(std::min(subs.size(), at + alink::kMaxSessionBatch)));
    replies.push_back(core_->SubmitAndWait(
        SessionRequest(*core_, alink::TopicKind::kSessionBatchLogout, DeviceKeys(part))));
  }
  return replies;
}

Reply Device::PostPack(const nlohmann::json& params) {
  if (!ValidParams(params)) {
    return Invalid("params must be a JSON object");
  }
  return core_->SubmitAndWait(
      core_->MakeRequest(core_->topics.PackPost(), "thing.event.property.pack.post", params, false));
}

SubDevice Device::Sub(const std::string& product_key, const std::string& device_name) {
  return SubDevice(core_, product_key, device_name);
}

void Device::OnSubDeviceState(std::function<void(const DownlinkRequest&)> handler) {
  std::lock_guard lock(core_->mutex_);
  core_->sub_state_handler = std::move(handler);
}

SubDevice::SubDevice(std::weak_ptr<Device::Core> core, const std::string& product_key,
                     const std::string& device_name)
    : core_(std::move(core)), topics_(std::make_shared<DeviceTopics>(product_key, device_name)) {}

Reply SubDevice::PostProperties(const nlohmann::json& params) {
  auto core = core_.lock();
  return core ? PostPropertiesOn(*core, *topics_, params) : Stopped();
}

Outcome SubDevice::PostPropertiesAsync(const nlohmann::json& params, ReplyCallback done) {
  auto core = core_.lock();
  return core ? PostPropertiesAsyncOn(*core, *topics_, params, std::move(done)) : Outcome::kStopped;
}

Reply SubDevice::PostEvent(std::string_view event_id, const nlohmann::json& outputs,
                           std::optional<std::int64_t> time_ms) {
  auto core = core_.lock();
  return core ? PostEventOn(*core, *topics_, event_id, outputs, time_ms) : Stopped();
}

Outcome SubDevice::PostEventAsync(std::string_view event_id, const nlohmann::json& outputs,
                                  std::optional<std::int64_t> time_ms, ReplyCallback done) {
  auto core = core_.lock();
  return core ? PostEventAsyncOn(*core, *topics_, event_id, outputs, time_ms, std::move(done))
              : Outcome::kStopped;
}

void SubDevice::OnPropertySet(DownlinkHandler handler) {
  if (auto core = core_.lock()) {
    std::lock_guard lock(core->mutex_);
    core->sub_handlers[product_key() + "/" + device_name()].property_set = std::move(handler);
  }
}

void SubDevice::OnService(std::string identifier, DownlinkHandler handler) {
  if (auto core = core_.lock()) {
    std::lock_guard lock(core->mutex_);
    core->sub_handlers[product_key() + "/" + device_name()].services[std::move(identifier)] =
        std::move(handler);
  }
}

}  // namespace iot::device

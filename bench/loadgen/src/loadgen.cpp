#include "loadgen.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "connection.hpp"
#include "mqtt_codec.hpp"

namespace iot::loadgen {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Done = std::function<void()>;

constexpr std::int64_t kNsPerSec = 1'000'000'000;
constexpr std::uint16_t kCodeUnanswered = 0;

enum class Mode { kStorm, kPublish };

// The CONNECT of a service-account client (watcher, echo responder): clean session, 300 s keepalive.
std::string ServiceConnect(const std::string& client_id_prefix, const std::string& user,
                           const std::string& secret) {
  const std::string client_id = client_id_prefix + std::to_string(NowNs() % 1000000);
  mqtt::ConnectFields connect;
  connect.version = kVersion;
  connect.client_id = client_id;
  connect.username = user;
  connect.password = secret;
  connect.keepalive_s = 300;
  std::string packet;
  mqtt::EncodeConnect(packet, connect);
  return packet;
}

// What a device owns inside its shard.
struct Device {
  std::uint32_t global = 0;
  std::unique_ptr<Connection> conn;
  std::string connect_packet;  // encoded once before the clock starts (HMAC is not what we measure)
  std::string post_topic;
  std::string reply_topic;
  std::int64_t start_ns = 0;
  std::int64_t connack_ns = 0;
  bool finished = false;  // the connect attempt is resolved (ready or failed)
  bool ready = false;     // CONNACK 0 (and SUBACK in publish mode) and still connected
  bool timed_out = false;
  // publish: ids are first_id, first_id + 1, ... per device; index id - first_id
  std::vector<std::int64_t> sent_ns;
  std::vector<std::uint16_t> reply_code;  // kCodeUnanswered until the reply comes
  std::uint32_t outstanding = 0;
  std::deque<std::pair<std::uint16_t, std::int64_t>> unacked;  // packet id, send time
};

void AppendUint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// A number with exactly `decimals` decimals from an integer scaled by 10^decimals.
void AppendFixed(std::string& out, std::uint64_t scaled, int decimals) {
  std::uint64_t div = 1;
  for (int i = 0; i < decimals; ++i) {
    div *= 10;
  }
  AppendUint(out, scaled / div);
  out.push_back('.');
  char frac[8];
  std::uint64_t rest = scaled % div;
  for (int i = decimals - 1; i >= 0; --i) {
    frac[i] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  }
  out.append(frac, static_cast<std::size_t>(decimals));
}

// The generated properties (see DefaultTsl): values vary with the id and stay inside the specs.
void AppendGeneratedParams(std::string& out, std::uint64_t id) {
  out.append("{\"temperature\":");
  AppendFixed(out, 150 + (id * 7) % 200, 1);  // 15.0 .. 34.9
  out.append(",\"humidity\":");
  AppendUint(out, (id * 13) % 101);  // 0 .. 100
  out.append(",\"powerSwitch\":");
  AppendUint(out, id & 1);
  out.append(",\"voltage\":");
  AppendFixed(out, 22000 + (id * 37) % 1000, 2);  // 220.00 .. 229.99
  out.append(",\"mode\":");
  AppendUint(out, id % 3);
  out.push_back('}');
}

class Shard final : public ConnectionEvents {
 public:
  Shard(Mode mode, const CommonOptions& common, const PublishOptions* publish, tcp::endpoint endpoint)
      : mode_(mode),
        common_(common),
        publish_(publish),
        endpoint_(std::move(endpoint)),
        guard_(asio::make_work_guard(io_)),
        housekeeping_(io_),
        pace_timer_(io_),
        disconnect_timer_(io_) {}

  void AddDevice(std::uint32_t global, const DeviceCredentials& cred) {
    Device d;
    d.global = global;
    d.conn = std::make_unique<Connection>(io_, *this, static_cast<std::uint32_t>(devices_.size()));
    const auto params = alink::MakeConnectParams(cred.product_key, cred.device_name, cred.secret,
                                                 common_.sign_method, common_.timestamp, 3);
    mqtt::ConnectFields connect;
    connect.version = kVersion;
    connect.client_id = params.client_id;
    connect.username = params.username;
    connect.password = params.password;
    connect.keepalive_s = static_cast<std::uint16_t>(common_.keepalive_s);
    connect.clean_start = common_.clean_session;
    mqtt::EncodeConnect(d.connect_packet, connect);
    if (mode_ == Mode::kPublish) {
      const std::string base = "/sys/" + cred.product_key + "/" + cred.device_name;
      d.post_topic = base + (publish_->raw ? "/thing/model/up_raw" : "/thing/event/property/post");
      d.reply_topic = d.post_topic + "_reply";
    }
    devices_.push_back(std::move(d));
  }

  void Start() {
    thread_ = std::thread([this] { io_.run(); });
  }

  void Stop() {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  asio::io_context& Io() { return io_; }

  // --- connect phase ---------------------------------------------------------------------------------
  void BeginConnect(int window, Done done) {
    window_ = std::max(1, window);
    connect_done_ = std::move(done);
    connect_active_ = true;
    Housekeeping();
    LaunchMore();
    if (devices_.empty()) {
      FinishConnect();
    }
  }

  // --- pacing phase (publish) ------------------------------------------------------------------------
  void BeginPace(double rate, double duration_s, Done done) {
    rate_per_ns_ = rate / static_cast<double>(kNsPerSec);
    burst_ = std::max(1.0, rate * 0.02);  // at most 20 ms of catch-up after a stall
    pace_start_ns_ = last_tick_ns_ = NowNs();
    pace_end_ns_ = pace_start_ns_ + static_cast<std::int64_t>(duration_s * kNsPerSec);
    pace_done_ = std::move(done);
    tokens_ = 0;
    for (std::uint32_t i = 0; i < devices_.size(); ++i) {
      if (devices_[i].ready) {
        ready_.push_back(i);
      }
      const auto expected =
          static_cast<std::size_t>(rate * duration_s / std::max<std::size_t>(1, devices_.size()) * 1.2) + 16;
      devices_[i].sent_ns.reserve(expected);
      devices_[i].reply_code.reserve(expected);
    }
    reply_latency_.Reserve(static_cast<std::size_t>(rate * duration_s) + 16);
    PaceTick();
  }

  // --- disconnect phase ------------------------------------------------------------------------------
  void BeginDisconnect(Done done) {
    disconnecting_ = true;
    disconnect_done_ = std::move(done);
    to_close_ = 0;
    for (auto& d : devices_) {
      const auto s = d.conn->State();
      if (s != ConnState::kClosed && s != ConnState::kIdle) {
        ++to_close_;
      }
    }
    disconnect_start_ns_ = NowNs();
    if (to_close_ == 0) {
      return FinishDisconnect();
    }
    for (auto& d : devices_) {
      if (d.conn->State() == ConnState::kConnected) {
        ++clean_disconnects_;
        d.conn->Disconnect();
      } else {
        d.conn->Abort();
      }
    }
    disconnect_timer_.expires_after(std::chrono::seconds(10));
    disconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || !disconnect_done_) {
        return;
      }
      for (auto& d : devices_) {
        d.conn->Abort();
      }
    });
  }

  // --- counters read by the orchestrating thread -----------------------------------------------------
  std::atomic<std::uint64_t> connected{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> replies{0};
  std::atomic<std::uint64_t> outstanding{0};

  // --- results, read after Stop() --------------------------------------------------------------------
  std::vector<Device>& Devices() { return devices_; }
  std::map<std::string, std::uint64_t>& Failures() { return failures_; }
  std::map<int, std::uint64_t>& ReplyCodes() { return reply_codes_; }
  LatencySamples& ConnackLatency() { return connack_latency_; }
  LatencySamples& ReplyLatency() { return reply_latency_; }
  LatencySamples& PubackLatency() { return puback_latency_; }
  std::int64_t ConnectEndNs() const { return connect_end_ns_; }
  std::int64_t PaceEndNs() const { return pace_actual_end_ns_; }
  std::int64_t DisconnectEndNs() const { return disconnect_end_ns_; }
  std::uint64_t Dropped() const { return dropped_; }
  std::uint64_t Duplicates() const { return duplicate_replies_; }
  std::uint64_t UnknownReplies() const { return unknown_replies_; }
  std::uint64_t BadReplies() const { return bad_replies_; }
  std::uint64_t OtherMessages() const { return other_messages_; }
  std::uint64_t Pubacks() const { return pubacks_; }
  double ScheduleMissed() const { return schedule_missed_; }
  std::uint64_t CleanDisconnects() const { return clean_disconnects_; }
  std::uint64_t Pings() const { return pings_; }

  // --- ConnectionEvents ------------------------------------------------------------------------------
  void OnConnack(Connection& conn, int code) override {
    Device& d = devices_[conn.Index()];
    d.connack_ns = NowNs();
    if (code != 0) {
      ++failures_["connack_" + std::to_string(code)];
      return Resolve(d, false);
    }
    connack_latency_.Add(d.connack_ns - d.start_ns);
    if (mode_ == Mode::kPublish) {
      mqtt::EncodeSubscribe(conn.PendingBuffer(), kVersion, conn.NextPacketId(), d.reply_topic,
                            publish_->sub_qos);
      conn.Flush();
      return;
    }
    d.ready = true;
    Resolve(d, true);
  }

  void OnSuback(Connection& conn, std::uint16_t /*id*/, int granted) override {
    Device& d = devices_[conn.Index()];
    if (d.finished) {
      return;
    }
    if (granted >= 0x80) {
      ++failures_["suback_refused"];
      conn.Abort();
      return;  // OnClosed resolves it
    }
    d.ready = true;
    Resolve(d, true);
  }

  void OnPuback(Connection& conn, std::uint16_t id) override {
    Device& d = devices_[conn.Index()];
    const std::int64_t now = NowNs();
    for (auto it = d.unacked.begin(); it != d.unacked.end(); ++it) {
      if (it->first == id) {
        puback_latency_.Add(now - it->second);
        d.unacked.erase(it);
        ++pubacks_;
        return;
      }
    }
  }

  void OnPublish(Connection& conn, const PublishView& msg) override {
    if (mode_ != Mode::kPublish) {
      ++other_messages_;
      return;
    }
    Device& d = devices_[conn.Index()];
    const std::int64_t now = NowNs();
    if (msg.topic != d.reply_topic) {
      ++other_messages_;
      return;
    }
    std::uint64_t id = 0;
    std::uint64_t code = 0;
    const auto byte = [&](std::size_t i) {
      return static_cast<std::uint64_t>(static_cast<unsigned char>(msg.payload[i]));
    };
    if (publish_->raw && msg.payload.size() == 7 && msg.payload[0] == 0x02) {
      id = byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4);
      code = byte(5) << 8 | byte(6);
    } else if (!ParseUint(TopLevelJsonValue(msg.payload, "id"), id) ||
               !ParseUint(TopLevelJsonValue(msg.payload, "code"), code)) {
      ++bad_replies_;
      return;
    }
    const std::uint64_t first = publish_->first_id;
    if (id < first || id - first >= d.sent_ns.size()) {
      ++unknown_replies_;
      return;
    }
    const std::size_t index = id - first;
    auto& slot = d.reply_code[index];
    if (slot != kCodeUnanswered) {
      ++duplicate_replies_;
      return;
    }
    slot = static_cast<std::uint16_t>(std::clamp<std::uint64_t>(code, 1, 65535));
    reply_latency_.Add(now - d.sent_ns[index]);
    ++reply_codes_[static_cast<int>(code)];
    --d.outstanding;
    replies.fetch_add(1, std::memory_order_relaxed);
    outstanding.fetch_sub(1, std::memory_order_relaxed);
  }

  void OnClosed(Connection& conn, bool /*clean*/, const boost::system::error_code& ec) override {
    Device& d = devices_[conn.Index()];
    if (!d.finished) {
      if (d.timed_out) {
        ++failures_["timeout"];
      } else if (ec) {
        ++failures_["io: " + ec.message()];
      } else if (d.connack_ns == 0) {
        ++failures_["closed before CONNACK"];
      }
      Resolve(d, false);
    } else if (d.ready && !disconnecting_) {
      ++dropped_;  // the broker closed a ready connection (kicked, keepalive, ...)
    }
    d.ready = false;
    if (disconnecting_ && to_close_ > 0 && --to_close_ == 0) {
      FinishDisconnect();
    }
  }

 private:
  void LaunchMore() {
    while (in_flight_ < window_ && next_ < devices_.size()) {
      Device& d = devices_[next_++];
      ++in_flight_;
      d.start_ns = NowNs();
      d.conn->Start(endpoint_, d.connect_packet);
    }
  }

  void Resolve(Device& d, bool ok) {
    if (d.finished) {
      return;
    }
    d.finished = true;
    --in_flight_;
    ++resolved_;
    (ok ? connected : failed).fetch_add(1, std::memory_order_relaxed);
    LaunchMore();
    if (resolved_ == devices_.size()) {
      FinishConnect();
    }
  }

  void FinishConnect() {
    if (!connect_done_) {
      return;
    }
    connect_active_ = false;
    connect_end_ns_ = NowNs();
    auto done = std::move(connect_done_);
    connect_done_ = nullptr;
    done();
  }

  void FinishDisconnect() {
    if (!disconnect_done_) {
      return;
    }
    disconnect_end_ns_ = NowNs();
    disconnect_timer_.cancel();
    housekeeping_.cancel();
    pace_timer_.cancel();
    auto done = std::move(disconnect_done_);
    disconnect_done_ = nullptr;
    done();
  }

  // Every 100 ms: connect timeouts while connecting; every second: PINGREQ on idle connections.
  void Housekeeping() {
    const std::int64_t now = NowNs();
    if (connect_active_) {
      const auto timeout = static_cast<std::int64_t>(common_.connect_timeout_s * kNsPerSec);
      for (auto& d : devices_) {
        if (!d.finished && d.start_ns != 0 && now - d.start_ns > timeout) {
          d.timed_out = true;
          d.conn->Abort();
        }
      }
    }
    if (++housekeeping_ticks_ % 10 == 0 && !disconnecting_) {
      const std::int64_t idle = static_cast<std::int64_t>(common_.keepalive_s) * kNsPerSec / 2;
      for (auto& d : devices_) {
        if (d.conn->State() == ConnState::kConnected && now - d.conn->LastSendNs() > idle) {
          mqtt::EncodePingreq(d.conn->PendingBuffer());
          d.conn->Flush();
          ++pings_;
        }
      }
    }
    housekeeping_.expires_after(std::chrono::milliseconds(100));
    housekeeping_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec && !disconnecting_) {
        Housekeeping();
      }
    });
  }

  void PaceTick() {
    const std::int64_t now = NowNs();
    tokens_ += static_cast<double>(now - last_tick_ns_) * rate_per_ns_;
    last_tick_ns_ = now;
    if (tokens_ > burst_) {  // behind schedule (stalled, or every device at its in-flight limit)
      schedule_missed_ += tokens_ - burst_;
      tokens_ = burst_;
    }
    while (tokens_ >= 1.0 && PostOne()) {
      tokens_ -= 1.0;
    }
    if (now >= pace_end_ns_) {
      pace_actual_end_ns_ = now;
      auto done = std::move(pace_done_);
      pace_done_ = nullptr;
      if (done) {
        done();
      }
      return;
    }
    pace_timer_.expires_after(std::chrono::milliseconds(1));
    pace_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) {
        PaceTick();
      }
    });
  }

  bool PostOne() {
    const std::size_t n = ready_.size();
    for (std::size_t tries = 0; tries < n; ++tries) {
      Device& d = devices_[ready_[cursor_]];
      if (++cursor_ == n) {
        cursor_ = 0;
      }
      if (!d.ready) {
        continue;
      }
      if (publish_->max_inflight > 0 && d.outstanding >= static_cast<std::uint32_t>(publish_->max_inflight)) {
        continue;
      }
      SendPost(d);
      return true;
    }
    return false;
  }

  void SendPost(Device& d) {
    const std::uint64_t id = publish_->first_id + d.sent_ns.size();
    payload_.clear();
    if (publish_->raw) {
      // The values of AppendGeneratedParams, packed (bench/raw_script.js unpacks them).
      const auto temp = static_cast<std::uint16_t>(150 + (id * 7) % 200);      // 15.0 .. 34.9 (x10)
      const auto volt = static_cast<std::uint16_t>(22000 + (id * 37) % 1000);  // 220.00 .. 229.99 (x100)
      const char frame[] = {0x00,
                            static_cast<char>(id >> 24),
                            static_cast<char>(id >> 16),
                            static_cast<char>(id >> 8),
                            static_cast<char>(id),
                            static_cast<char>(temp >> 8),
                            static_cast<char>(temp),
                            static_cast<char>((id * 13) % 101),
                            static_cast<char>(id & 1),
                            static_cast<char>(volt >> 8),
                            static_cast<char>(volt),
                            static_cast<char>(id % 3)};
      payload_.assign(frame, sizeof frame);
    } else {
      payload_.append("{\"id\":\"");
      AppendUint(payload_, id);
      payload_.append("\",\"version\":\"1.0\",\"params\":");
      if (publish_->params_json.empty()) {
        AppendGeneratedParams(payload_, id);
      } else {
        payload_.append(publish_->params_json);
      }
      payload_.append(",\"method\":\"thing.event.property.post\"}");
    }
    const int qos = publish_->qos;
    const std::uint16_t packet_id = qos > 0 ? d.conn->NextPacketId() : 0;
    mqtt::EncodePublish(d.conn->PendingBuffer(), kVersion, d.post_topic, payload_, qos, packet_id);
    const std::int64_t now = NowNs();
    d.sent_ns.push_back(now);
    d.reply_code.push_back(kCodeUnanswered);
    ++d.outstanding;
    if (qos > 0) {
      d.unacked.emplace_back(packet_id, now);
    }
    sent.fetch_add(1, std::memory_order_relaxed);
    outstanding.fetch_add(1, std::memory_order_relaxed);
    d.conn->Flush();
  }

  Mode mode_;
  const CommonOptions& common_;
  const PublishOptions* publish_;
  tcp::endpoint endpoint_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
  asio::steady_timer housekeeping_;
  asio::steady_timer pace_timer_;
  asio::steady_timer disconnect_timer_;
  std::vector<Device> devices_;

  // connect
  std::size_t window_ = 1;
  std::size_t next_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t resolved_ = 0;
  bool connect_active_ = false;
  Done connect_done_;
  std::int64_t connect_end_ns_ = 0;
  std::uint64_t housekeeping_ticks_ = 0;
  std::uint64_t pings_ = 0;
  std::map<std::string, std::uint64_t> failures_;
  LatencySamples connack_latency_;

  // pace
  double rate_per_ns_ = 0;
  double burst_ = 1;
  double tokens_ = 0;
  double schedule_missed_ = 0;
  std::int64_t pace_start_ns_ = 0;
  std::int64_t pace_end_ns_ = 0;
  std::int64_t pace_actual_end_ns_ = 0;
  std::int64_t last_tick_ns_ = 0;
  Done pace_done_;
  std::vector<std::uint32_t> ready_;
  std::size_t cursor_ = 0;
  std::string payload_;
  LatencySamples reply_latency_;
  LatencySamples puback_latency_;
  std::map<int, std::uint64_t> reply_codes_;
  std::uint64_t duplicate_replies_ = 0;
  std::uint64_t unknown_replies_ = 0;
  std::uint64_t bad_replies_ = 0;
  std::uint64_t other_messages_ = 0;
  std::uint64_t pubacks_ = 0;
  std::uint64_t dropped_ = 0;

  // disconnect
  bool disconnecting_ = false;
  std::size_t to_close_ = 0;
  std::uint64_t clean_disconnects_ = 0;
  std::int64_t disconnect_start_ns_ = 0;
  std::int64_t disconnect_end_ns_ = 0;
  Done disconnect_done_;
};

// A service account subscribed to the plugin's lifecycle topic, on its own thread.
class LifecycleWatcher final : public ConnectionEvents {
 public:
  LifecycleWatcher(tcp::endpoint endpoint, const std::vector<DeviceCredentials>& devices)
      : endpoint_(std::move(endpoint)),
        guard_(asio::make_work_guard(io_)),
        conn_(io_, *this, 0),
        first_online_ns_(devices.size(), 0),
        first_offline_ns_(devices.size(), 0) {
    index_.reserve(devices.size());
    for (std::uint32_t i = 0; i < devices.size(); ++i) {
      index_.emplace(devices[i].product_key + "/" + devices[i].device_name, i);
    }
  }

  // Connects and subscribes; false (with `error`) when that fails within 10 s.
  bool Start(const std::string& user, const std::string& secret, std::string& error) {
    thread_ = std::thread([this] { io_.run(); });
    auto ready = ready_.get_future();
    asio::post(io_, [this, user, secret] {
      conn_.Start(endpoint_, ServiceConnect("loadgen-lifecycle-watch-", user, secret));
    });
    if (ready.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      error = "lifecycle watcher: no SUBACK within 10 s";
      return false;
    }
    error = ready.get();
    return error.empty();
  }

  void Stop() {
    asio::post(io_, [this] { conn_.Disconnect(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  std::atomic<std::uint64_t> online_msgs{0};
  std::atomic<std::uint64_t> offline_msgs{0};
  std::atomic<std::uint64_t> unknown_msgs{0};
  const std::vector<std::int64_t>& FirstOnlineNs() const { return first_online_ns_; }
  const std::vector<std::int64_t>& FirstOfflineNs() const { return first_offline_ns_; }

  void OnConnack(Connection& conn, int code) override {
    if (code != 0) {
      return Resolve("lifecycle watcher: CONNACK " + std::to_string(code));
    }
    mqtt::EncodeSubscribe(conn.PendingBuffer(), kVersion, conn.NextPacketId(), "/as/mqtt/status/+/+", 1);
    conn.Flush();
  }
  void OnSuback(Connection& /*conn*/, std::uint16_t /*id*/, int granted) override {
    Resolve(granted >= 0x80 ? "lifecycle watcher: subscription refused" : "");
  }
  void OnPublish(Connection& /*conn*/, const PublishView& msg) override {
    const std::int64_t now = NowNs();
    constexpr std::string_view kPrefix = "/as/mqtt/status/";
    if (msg.topic.substr(0, kPrefix.size()) != kPrefix) {
      return;
    }
    const auto it = index_.find(std::string(msg.topic.substr(kPrefix.size())));
    if (it == index_.end()) {
      unknown_msgs.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::string_view status = TopLevelJsonValue(msg.payload, "status");
    if (status == "online") {
      if (first_online_ns_[it->second] == 0) {
        first_online_ns_[it->second] = now;
      }
      online_msgs.fetch_add(1, std::memory_order_relaxed);
    } else if (status == "offline") {
      if (first_offline_ns_[it->second] == 0) {
        first_offline_ns_[it->second] = now;
      }
      offline_msgs.fetch_add(1, std::memory_order_relaxed);
    }
  }
  void OnClosed(Connection& /*conn*/, bool /*clean*/, const boost::system::error_code& ec) override {
    Resolve("lifecycle watcher: connection closed" + (ec ? ": " + ec.message() : std::string()));
  }

 private:
  void Resolve(const std::string& error) {
    if (resolved_) {
      return;
    }
    resolved_ = true;
    ready_.set_value(error);
  }

  tcp::endpoint endpoint_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::thread thread_;
  Connection conn_;
  std::promise<std::string> ready_;
  bool resolved_ = false;
  std::unordered_map<std::string, std::uint32_t> index_;
  std::vector<std::int64_t> first_online_ns_;
  std::vector<std::int64_t> first_offline_ns_;
};

// Answers every post it receives with code 200 (see EchoOptions).
class Echo final : public ConnectionEvents {
 public:
  Echo(asio::io_context& io, const EchoOptions& options) : options_(options), conn_(io, *this, 0) {}

  void Start(const tcp::endpoint& endpoint) {
    conn_.Start(endpoint, ServiceConnect("loadgen-echo-", options_.user, options_.secret));
  }
  void Stop() { conn_.Disconnect(); }

  std::atomic<std::uint64_t> received{0};
  std::atomic<int> state{0};  // 0 connecting, 1 subscribed, -1 failed
  std::string error;

  void OnConnack(Connection& conn, int code) override {
    if (code != 0) {
      error = "echo: CONNACK " + std::to_string(code);
      state = -1;
      return;
    }
    mqtt::EncodeSubscribe(conn.PendingBuffer(), kVersion, conn.NextPacketId(), options_.filter,
                          options_.sub_qos);
    conn.Flush();
  }
  void OnSuback(Connection& /*conn*/, std::uint16_t /*id*/, int granted) override {
    if (granted >= 0x80) {
      error = "echo: subscription refused";
    }
    state = granted >= 0x80 ? -1 : 1;
  }
  void OnPublish(Connection& conn, const PublishView& msg) override {
    std::string_view method = TopLevelJsonValue(msg.payload, "method");
    if (method.empty()) {
      method = "thing.event.property.post";
    }
    reply_.clear();
    reply_.append("{\"code\":200,\"data\":{},\"id\":\"");
    reply_.append(TopLevelJsonValue(msg.payload, "id"));
    reply_.append("\",\"message\":\"success\",\"method\":\"");
    reply_.append(method);
    reply_.append("\",\"version\":\"1.0\"}");
    topic_.assign(msg.topic);
    topic_.append("_reply");
    mqtt::EncodePublish(conn.PendingBuffer(), kVersion, topic_, reply_, options_.reply_qos,
                        options_.reply_qos > 0 ? conn.NextPacketId() : 0);
    received.fetch_add(1, std::memory_order_relaxed);
  }
  void OnClosed(Connection& /*conn*/, bool clean, const boost::system::error_code& ec) override {
    if (!clean && error.empty()) {
      error = "echo: connection closed" + (ec ? ": " + ec.message() : std::string());
    }
    if (state == 0) {
      state = -1;
    }
  }

 private:
  const EchoOptions& options_;
  Connection conn_;
  std::string reply_;
  std::string topic_;
};

tcp::endpoint ResolveEndpoint(const std::string& host, int port) {
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, std::to_string(port));
  if (results.empty()) {
    throw std::runtime_error("cannot resolve " + host);
  }
  return results.begin()->endpoint();
}

double Round(double v, int decimals) {
  const double f = std::pow(10.0, decimals);
  return std::round(v * f) / f;
}

// CPU of this process and of the sampled ones at one moment.
struct CpuMark {
  std::int64_t self_us = 0;
  std::vector<std::int64_t> sampled_us;
};

CpuMark MarkCpu(const CommonOptions& options) {
  CpuMark m;
  m.self_us = SelfCpuUs();
  for (const auto& p : options.sampled) {
    m.sampled_us.push_back(SampledCpuUs(p));
  }
  return m;
}

// {"generator": {"cpu_ms", "us_per_<unit>"}, "<name>": {...}} between two marks.
nlohmann::json CpuBetween(const CommonOptions& options, const CpuMark& a, const CpuMark& b, double units,
                          const std::string& unit) {
  nlohmann::json j;
  auto entry = [&](std::int64_t us) {
    nlohmann::json e;
    e["cpu_ms"] = Round(static_cast<double>(us) / 1000.0, 1);
    e["us_per_" + unit] = units > 0 ? Round(static_cast<double>(us) / units, 2) : 0.0;
    return e;
  };
  j["generator"] = entry(b.self_us - a.self_us);
  for (std::size_t i = 0; i < options.sampled.size(); ++i) {
    j[options.sampled[i].name] = entry(b.sampled_us[i] - a.sampled_us[i]);
  }
  return j;
}

using Shards = std::vector<std::unique_ptr<Shard>>;

Shards MakeShards(Mode mode, const CommonOptions& options, const PublishOptions* publish) {
  if (options.devices.empty()) {
    throw std::runtime_error("no devices");
  }
  const tcp::endpoint endpoint = ResolveEndpoint(options.host, options.port);
  const int threads = std::max(1, std::min<int>(options.threads, static_cast<int>(options.devices.size())));
  Shards shards;
  for (int t = 0; t < threads; ++t) {
    shards.push_back(std::make_unique<Shard>(mode, options, publish, endpoint));
  }
  for (std::uint32_t i = 0; i < options.devices.size(); ++i) {
    shards[i % shards.size()]->AddDevice(i, options.devices[i]);
  }
  for (auto& s : shards) {
    s->Start();
  }
  return shards;
}

// Starts `begin` on every shard's thread and waits until each has called its done callback; calls
// `tick` about once a second meanwhile.
void RunPhase(Shards& shards, const std::function<void(Shard&, Done)>& begin,
              const std::function<void()>& tick) {
  std::vector<std::promise<void>> promises(shards.size());
  std::vector<std::future<void>> futures;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    futures.push_back(promises[i].get_future());
    asio::post(shards[i]->Io(), [&, i] { begin(*shards[i], [p = &promises[i]] { p->set_value(); }); });
  }
  for (auto& f : futures) {
    while (f.wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
      tick();
    }
  }
}

template <class F>
std::uint64_t Sum(Shards& shards, F get) {
  std::uint64_t total = 0;
  for (auto& s : shards) {
    total += get(*s);
  }
  return total;
}

void Progress(const CommonOptions& options, const std::string& line) {
  if (options.progress) {
    std::fprintf(stderr, "\r%-100s", line.c_str());
  }
}

void EndProgress(const CommonOptions& options) {
  if (options.progress) {
    std::fprintf(stderr, "\n");
  }
}

nlohmann::json ConnectSummary(const CommonOptions& options, Shards& shards, std::int64_t t0,
                              const CpuMark& before, const CpuMark& after, std::int64_t& connect_end) {
  nlohmann::json j;
  const std::uint64_t ok = Sum(shards, [](Shard& s) { return s.connected.load(); });
  connect_end = t0;
  LatencySamples latency;
  std::map<std::string, std::uint64_t> failures;
  for (auto& s : shards) {
    connect_end = std::max(connect_end, s->ConnectEndNs());
    latency.Merge(s->ConnackLatency());
    for (const auto& [k, v] : s->Failures()) {
      failures[k] += v;
    }
  }
  const double seconds = static_cast<double>(connect_end - t0) / kNsPerSec;
  j["devices"] = options.devices.size();
  j["connected"] = ok;
  j["failed"] = options.devices.size() - ok;
  j["failures"] = failures;
  j["connect_seconds"] = Round(seconds, 3);
  j["connects_per_s"] = seconds > 0 ? Round(static_cast<double>(ok) / seconds, 1) : 0.0;
  j["connack_latency_ms"] = latency.SummaryMs();
  j["cpu_connect_phase"] = CpuBetween(options, before, after, static_cast<double>(ok), "connect");
  return j;
}

}  // namespace

nlohmann::json RunConnectStorm(const StormOptions& options) {
  nlohmann::json out;
  out["mode"] = "connect-storm";
  out["file_limit"] = RaiseFileLimit();
  out["threads"] = std::max(1, options.threads);
  out["window"] = options.window;

  std::unique_ptr<LifecycleWatcher> watcher;
  if (!options.watch_user.empty()) {
    watcher =
        std::make_unique<LifecycleWatcher>(ResolveEndpoint(options.host, options.port), options.devices);
    std::string error;
    if (!watcher->Start(options.watch_user, options.watch_secret, error)) {
      watcher->Stop();
      throw std::runtime_error(error);
    }
  }
  Shards shards = MakeShards(Mode::kStorm, options, nullptr);
  const int per_shard = std::max(1, options.window / static_cast<int>(shards.size()));

  const CpuMark cpu0 = MarkCpu(options);
  const std::int64_t t0 = NowNs();
  RunPhase(
      shards, [&](Shard& s, Done done) { s.BeginConnect(per_shard, std::move(done)); },
      [&] {
        Progress(options,
                 "connect: " + std::to_string(Sum(shards, [](Shard& s) { return s.connected.load(); })) +
                     " ok, " + std::to_string(Sum(shards, [](Shard& s) { return s.failed.load(); })) +
                     " failed of " + std::to_string(options.devices.size()));
      });
  const CpuMark cpu1 = MarkCpu(options);
  EndProgress(options);
  std::int64_t connect_end = 0;
  out.update(ConnectSummary(options, shards, t0, cpu0, cpu1, connect_end));
  const std::uint64_t connected = out["connected"].get<std::uint64_t>();

  // Every successful connect must produce one online message.
  if (watcher) {
    const std::int64_t deadline = NowNs() + static_cast<std::int64_t>(options.lifecycle_wait_s * kNsPerSec);
    while (watcher->online_msgs.load() < connected && NowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (options.hold_s > 0) {
    const std::int64_t until = connect_end + static_cast<std::int64_t>(options.hold_s * kNsPerSec);
    while (NowNs() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  const std::uint64_t dropped_before = Sum(shards, [](Shard& s) { return s.Dropped(); });

  const CpuMark cpu2 = MarkCpu(options);
  const std::int64_t d0 = NowNs();
  RunPhase(
      shards, [&](Shard& s, Done done) { s.BeginDisconnect(std::move(done)); }, [] {});
  const std::uint64_t clean = Sum(shards, [](Shard& s) { return s.CleanDisconnects(); });
  if (watcher) {
    const std::int64_t deadline = NowNs() + static_cast<std::int64_t>(options.lifecycle_wait_s * kNsPerSec);
    while (watcher->offline_msgs.load() < clean && NowNs() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const CpuMark cpu3 = MarkCpu(options);
  std::int64_t d_end = d0;
  for (auto& s : shards) {
    s->Stop();
    d_end = std::max(d_end, s->DisconnectEndNs());
  }
  out["hold_s"] = options.hold_s;
  out["dropped_while_connected"] = dropped_before;
  out["pings_sent"] = Sum(shards, [](Shard& s) { return s.Pings(); });
  out["disconnected_cleanly"] = clean;
  out["disconnect_seconds"] = Round(static_cast<double>(d_end - d0) / kNsPerSec, 3);
  out["cpu_disconnect_phase"] = CpuBetween(options, cpu2, cpu3, static_cast<double>(clean), "disconnect");

  if (watcher) {
    watcher->Stop();
    std::vector<std::int64_t> start_ns(options.devices.size(), 0);
    for (auto& s : shards) {
      for (const auto& d : s->Devices()) {
        start_ns[d.global] = d.start_ns;
      }
    }
    LatencySamples online_latency;
    std::uint64_t online_devices = 0, offline_devices = 0, missing = 0;
    for (std::size_t i = 0; i < start_ns.size(); ++i) {
      const auto on = watcher->FirstOnlineNs()[i];
      if (on != 0) {
        ++online_devices;
        online_latency.Add(on - start_ns[i]);
      }
      if (watcher->FirstOfflineNs()[i] != 0) {
        ++offline_devices;
      }
    }
    missing = connected > online_devices ? connected - online_devices : 0;
    nlohmann::json lc;
    lc["online_msgs"] = watcher->online_msgs.load();
    lc["online_devices"] = online_devices;
    lc["missing_online"] = missing;
    lc["offline_msgs"] = watcher->offline_msgs.load();
    lc["offline_devices"] = offline_devices;
    lc["unknown_msgs"] = watcher->unknown_msgs.load();
    lc["connect_to_online_ms"] = online_latency.SummaryMs();
    lc["ok"] = watcher->online_msgs.load() == connected && online_devices == connected &&
               watcher->offline_msgs.load() == clean;
    out["lifecycle"] = lc;
  }
  return out;
}

nlohmann::json RunPublish(const PublishOptions& options) {
  nlohmann::json out;
  out["mode"] = "publish";
  out["file_limit"] = RaiseFileLimit();
  out["threads"] = std::max(1, options.threads);
  out["qos"] = options.qos;
  out["sub_qos"] = options.sub_qos;
  Shards shards = MakeShards(Mode::kPublish, options, &options);
  const int per_shard = std::max(1, options.window / static_cast<int>(shards.size()));

  const CpuMark cpu0 = MarkCpu(options);
  const std::int64_t t0 = NowNs();
  RunPhase(
      shards, [&](Shard& s, Done done) { s.BeginConnect(per_shard, std::move(done)); },
      [&] {
        Progress(options, "connect+subscribe: " +
                              std::to_string(Sum(shards, [](Shard& s) { return s.connected.load(); })) +
                              " ready of " + std::to_string(options.devices.size()));
      });
  const CpuMark cpu1 = MarkCpu(options);
  EndProgress(options);
  std::int64_t connect_end = 0;
  out["connect"] = ConnectSummary(options, shards, t0, cpu0, cpu1, connect_end);

  // Pace, then drain.
  const double rate_per_shard = options.rate / static_cast<double>(shards.size());
  const CpuMark cpu2 = MarkCpu(options);
  const std::int64_t p0 = NowNs();
  std::uint64_t last_sent = 0, last_replies = 0;
  // One row a second: [seconds since the pace began, sent, replies, outstanding]. A platform that
  // keeps up shows a flat outstanding column; one that does not, a growing one.
  nlohmann::json timeline = nlohmann::json::array();
  auto tick = [&] {
    const auto s = Sum(shards, [](Shard& x) { return x.sent.load(); });
    const auto r = Sum(shards, [](Shard& x) { return x.replies.load(); });
    const auto o = Sum(shards, [](Shard& x) { return x.outstanding.load(); });
    timeline.push_back({Round(static_cast<double>(NowNs() - p0) / kNsPerSec, 2), s, r, o});
    Progress(options, "sent " + std::to_string(s) + " (" + std::to_string(s - last_sent) + "/s), replies " +
                          std::to_string(r) + " (" + std::to_string(r - last_replies) + "/s), outstanding " +
                          std::to_string(o));
    last_sent = s;
    last_replies = r;
  };
  RunPhase(
      shards, [&](Shard& s, Done done) { s.BeginPace(rate_per_shard, options.duration_s, std::move(done)); },
      tick);
  std::int64_t pace_end = p0;
  for (auto& s : shards) {
    pace_end = std::max(pace_end, s->PaceEndNs());
  }
  const std::int64_t drain_deadline = NowNs() + static_cast<std::int64_t>(options.drain_s * kNsPerSec);
  std::int64_t next_tick = NowNs() + kNsPerSec;
  while (Sum(shards, [](Shard& x) { return x.outstanding.load(); }) > 0 && NowNs() < drain_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (NowNs() >= next_tick) {
      tick();
      next_tick += kNsPerSec;
    }
  }
  const std::int64_t drain_end = NowNs();
  const CpuMark cpu3 = MarkCpu(options);
  EndProgress(options);

  RunPhase(
      shards, [&](Shard& s, Done done) { s.BeginDisconnect(std::move(done)); }, [] {});
  for (auto& s : shards) {
    s->Stop();
  }

  // Results.
  const std::uint64_t sent = Sum(shards, [](Shard& s) { return s.sent.load(); });
  const std::uint64_t replies = Sum(shards, [](Shard& s) { return s.replies.load(); });
  const double pace_seconds = static_cast<double>(pace_end - p0) / kNsPerSec;
  LatencySamples reply_latency, puback_latency;
  std::map<std::string, std::uint64_t> codes;
  double missed = 0;
  for (auto& s : shards) {
    reply_latency.Merge(s->ReplyLatency());
    puback_latency.Merge(s->PubackLatency());
    for (const auto& [code, n] : s->ReplyCodes()) {
      codes[std::to_string(code)] += n;
    }
    missed += s->ScheduleMissed();
  }
  out["devices"] = options.devices.size();
  out["rate_target"] = options.rate;
  out["duration_s"] = options.duration_s;
  out["posts_sent"] = sent;
  out["achieved_rate"] = pace_seconds > 0 ? Round(static_cast<double>(sent) / pace_seconds, 1) : 0.0;
  out["schedule_missed"] = static_cast<std::uint64_t>(missed);
  out["replies"] = replies;
  out["replies_by_code"] = codes;
  out["unanswered"] = sent - replies;
  out["duplicate_replies"] = Sum(shards, [](Shard& s) { return s.Duplicates(); });
  out["unknown_id_replies"] = Sum(shards, [](Shard& s) { return s.UnknownReplies(); });
  out["unparsable_replies"] = Sum(shards, [](Shard& s) { return s.BadReplies(); });
  out["other_messages"] = Sum(shards, [](Shard& s) { return s.OtherMessages(); });
  out["pubacks"] = Sum(shards, [](Shard& s) { return s.Pubacks(); });
  out["dropped_connections"] = Sum(shards, [](Shard& s) { return s.Dropped(); });
  out["drain_seconds"] = Round(static_cast<double>(drain_end - pace_end) / kNsPerSec, 3);
  out["latency_ms"] = reply_latency.SummaryMs();
  out["puback_latency_ms"] = puback_latency.SummaryMs();
  out["cpu_publish_phase"] = CpuBetween(options, cpu2, cpu3, static_cast<double>(sent), "post");
  out["publish_phase_seconds"] = Round(static_cast<double>(drain_end - p0) / kNsPerSec, 3);
  out["first_id"] = options.first_id;
  out["timeline"] = std::move(timeline);

  std::uint64_t answered_200 = 0;
  nlohmann::json per_device = nlohmann::json::array();
  for (auto& s : shards) {
    for (const auto& d : s->Devices()) {
      std::uint64_t ok = 0;
      nlohmann::json ranges = nlohmann::json::array();
      std::uint64_t run_start = 0;
      for (std::size_t i = 0; i <= d.reply_code.size(); ++i) {
        const bool is_ok = i < d.reply_code.size() && d.reply_code[i] == 200;
        if (is_ok) {
          ++ok;
          if (run_start == 0) {
            run_start = i + options.first_id;
          }
        } else if (run_start != 0) {
          ranges.push_back({run_start, i - 1 + options.first_id});
          run_start = 0;
        }
      }
      answered_200 += ok;
      if (options.ids_per_device) {
        const auto& cred = options.devices[d.global];
        per_device.push_back({{"pk", cred.product_key},
                              {"dn", cred.device_name},
                              {"sent", d.sent_ns.size()},
                              {"answered_200", ok},
                              {"ids_200", ranges}});
      }
    }
  }
  out["answered_200"] = answered_200;
  if (options.ids_per_device) {
    out["per_device"] = per_device;
  }
  return out;
}

nlohmann::json RunEcho(const EchoOptions& options, const std::atomic<bool>& stop) {
  asio::io_context io{1};
  auto guard = asio::make_work_guard(io);
  Echo echo(io, options);
  const tcp::endpoint endpoint = ResolveEndpoint(options.host, options.port);
  std::thread thread([&] { io.run(); });
  asio::post(io, [&] { echo.Start(endpoint); });
  const std::int64_t connect_deadline = NowNs() + 10 * kNsPerSec;
  while (echo.state == 0 && NowNs() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (echo.state != 1) {
    guard.reset();
    io.stop();
    thread.join();
    throw std::runtime_error(echo.error.empty() ? "echo: no SUBACK within 10 s" : echo.error);
  }
  std::fprintf(stderr, "echo: answering %s\n", options.filter.c_str());
  CommonOptions sampling;
  sampling.sampled = options.sampled;
  const CpuMark cpu0 = MarkCpu(sampling);
  const std::int64_t t0 = NowNs();
  const std::int64_t end =
      options.duration_s > 0 ? t0 + static_cast<std::int64_t>(options.duration_s * kNsPerSec) : INT64_MAX;
  while (!stop.load() && NowNs() < end && echo.state == 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const CpuMark cpu1 = MarkCpu(sampling);
  const std::int64_t t1 = NowNs();
  asio::post(io, [&] { echo.Stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  guard.reset();
  io.stop();
  thread.join();
  const auto n = echo.received.load();
  nlohmann::json out;
  out["mode"] = "echo";
  out["answered"] = n;
  out["seconds"] = Round(static_cast<double>(t1 - t0) / kNsPerSec, 3);
  out["cpu"] = CpuBetween(sampling, cpu0, cpu1, static_cast<double>(n), "message");
  if (!echo.error.empty()) {
    out["error"] = echo.error;
  }
  return out;
}

std::string DefaultTsl(const std::string& product_key) {
  auto prop = [](const char* id, const char* name, nlohmann::json data_type) {
    return nlohmann::json{{"identifier", id},
                          {"name", name},
                          {"accessMode", "r"},
                          {"required", false},
                          {"dataType", std::move(data_type)}};
  };
  nlohmann::json properties = nlohmann::json::array({
      prop("temperature", "Temperature",
           {{"type", "float"}, {"specs", {{"min", "-40"}, {"max", "120"}, {"step", "0.1"}, {"unit", "°C"}}}}),
      prop("humidity", "Humidity",
           {{"type", "int"}, {"specs", {{"min", "0"}, {"max", "100"}, {"step", "1"}, {"unit", "%"}}}}),
      prop("powerSwitch", "Power switch", {{"type", "bool"}, {"specs", {{"0", "off"}, {"1", "on"}}}}),
      prop("voltage", "Voltage",
           {{"type", "double"}, {"specs", {{"min", "0"}, {"max", "400"}, {"step", "0.01"}, {"unit", "V"}}}}),
      prop("mode", "Mode", {{"type", "enum"}, {"specs", {{"0", "auto"}, {"1", "eco"}, {"2", "boost"}}}}),
  });
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& p : properties) {
    outputs.push_back({{"identifier", p["identifier"]}, {"name", p["name"]}, {"dataType", p["dataType"]}});
  }
  nlohmann::json tsl = {
      {"schema", "https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json"},
      {"profile", {{"productKey", product_key}}},
      {"properties", properties},
      {"events", nlohmann::json::array({{{"identifier", "post"},
                                         {"name", "post"},
                                         {"type", "info"},
                                         {"required", true},
                                         {"method", "thing.event.property.post"},
                                         {"outputData", outputs}}})},
      {"services", nlohmann::json::array()},
  };
  return tsl.dump(2);
}

std::string FormatSummary(const nlohmann::json& j) {
  std::ostringstream os;
  auto lat = [](const nlohmann::json& l) {
    std::ostringstream s;
    if (l.value("count", 0) == 0) {
      return std::string("n/a");
    }
    s << "p50 " << l["p50"] << " ms, p90 " << l["p90"] << " ms, p99 " << l["p99"] << " ms, max " << l["max"]
      << " ms";
    return s.str();
  };
  auto cpu = [](const nlohmann::json& c) {
    std::ostringstream s;
    bool first = true;
    for (auto it = c.begin(); it != c.end(); ++it) {
      for (auto f = it.value().begin(); f != it.value().end(); ++f) {
        if (f.key().rfind("us_per_", 0) == 0) {
          s << (first ? "" : ", ") << it.key() << " " << f.value() << " µs/" << f.key().substr(7);
          first = false;
        }
      }
    }
    return s.str();
  };
  auto connect = [&](const nlohmann::json& c) {
    os << "connected " << c["connected"] << "/" << c["devices"] << " in " << c["connect_seconds"]
       << " s = " << c["connects_per_s"] << " connects/s\n";
    os << "CONNACK latency: " << lat(c["connack_latency_ms"]) << "\n";
    if (!c["failures"].empty()) {
      os << "failures: " << c["failures"].dump() << "\n";
    }
    os << "CPU (connect phase): " << cpu(c["cpu_connect_phase"]) << "\n";
  };
  if (j["mode"] == "stream") {
    os << "stream: " << j["connected"] << "/" << j["clients"] << " clients, " << j["messages"]
       << " messages (" << j["bytes"] << " bytes) in " << j["seconds"] << " s " << j["by_type"].dump()
       << ", closed by the server " << j["closed_by_server"].dump() << "; CPU: " << cpu(j["cpu"]) << "\n";
  } else if (j["mode"] == "echo") {
    os << "echo: answered " << j["answered"] << " posts in " << j["seconds"] << " s; CPU: " << cpu(j["cpu"])
       << "\n";
  } else if (j["mode"] == "connect-storm") {
    connect(j);
    os << "disconnected cleanly " << j["disconnected_cleanly"] << " in " << j["disconnect_seconds"] << " s; "
       << "dropped while connected " << j["dropped_while_connected"] << "\n";
    if (j.contains("lifecycle")) {
      const auto& lc = j["lifecycle"];
      os << "lifecycle: online msgs " << lc["online_msgs"] << " (devices " << lc["online_devices"]
         << ", missing " << lc["missing_online"] << "), offline msgs " << lc["offline_msgs"]
         << "; connect->online " << lat(lc["connect_to_online_ms"])
         << (lc["ok"].get<bool>() ? "  [ok]" : "  [MISMATCH]") << "\n";
    }
  } else {
    connect(j["connect"]);
    os << "posts sent " << j["posts_sent"] << " at " << j["achieved_rate"] << "/s (target "
       << j["rate_target"] << "/s, schedule missed " << j["schedule_missed"] << "); replies " << j["replies"]
       << " " << j["replies_by_code"].dump() << ", unanswered " << j["unanswered"] << ", duplicates "
       << j["duplicate_replies"] << "\n";
    os << "post->reply latency: " << lat(j["latency_ms"]) << "\n";
    os << "post->PUBACK latency: " << lat(j["puback_latency_ms"]) << "\n";
    os << "CPU (publish phase): " << cpu(j["cpu_publish_phase"]) << "\n";
  }
  return os.str();
}

}  // namespace iot::loadgen

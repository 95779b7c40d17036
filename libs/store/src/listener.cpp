#include "iot/store/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <thread>

#include "connection.hpp"

namespace iot::store {
namespace {

// A listening connection is idle most of the time, so a peer that vanished without closing it (host
// down, network cut) would go unnoticed for hours. TCP keepalive probes after 2 s of silence, 1 s
// apart, and a 5 s limit on unacknowledged data make the socket fail (readable, then an error) within
// about 5 s; Poll then drops the connection and reports it. Not a TCP socket (Unix domain): no-op.
void DetectDeadPeer(int fd) {
  const int on = 1, idle_s = 2, interval_s = 1, probes = 3;
  const unsigned int user_timeout_ms = 5000;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof(idle_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_s, sizeof(interval_s));
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms));
}

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection& c, const std::string& channel, std::vector<Notification>& sink)
      : pqxx::notification_receiver(c, channel), sink_(sink) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    sink_.push_back(Notification{channel(), payload, false});
  }

 private:
  std::vector<Notification>& sink_;
};

}  // namespace

class Listener::Impl {
 public:
  Impl(DbSettings settings, std::vector<std::string> channels, Callback callback,
       std::int64_t presence_lock_key)
      : settings_(std::move(settings)),
        channels_(std::move(channels)),
        callback_(std::move(callback)),
        presence_lock_key_(presence_lock_key) {}
  ~Impl() { Drop(); }

  Result<void> Poll(std::chrono::milliseconds timeout) {
    if (!conn_) {
      const auto now = std::chrono::steady_clock::now();
      if (now < next_attempt_) {
        std::this_thread::sleep_for(
            std::min<std::chrono::steady_clock::duration>(next_attempt_ - now, timeout));
        return make_error_code(Errc::kUnavailable);
      }
      if (!Connect()) {
        return make_error_code(Errc::kUnavailable);
      }
      callback_(Notification{"", "", true});  // whatever happened meanwhile was missed
    }
    try {
      const long us =
          static_cast<long>(std::chrono::duration_cast<std::chrono::microseconds>(timeout).count());
      conn_->await_notification(us / 1000000, us % 1000000);
      conn_->get_notifs();
    } catch (...) {
      Drop();
      Backoff();
      return make_error_code(Errc::kUnavailable);
    }
    auto batch = std::move(pending_);
    pending_.clear();
    for (const auto& n : batch) {
      callback_(n);
    }
    return {};
  }

  bool IsConnected() const { return conn_ != nullptr && conn_->is_open(); }

  void SetPresence(bool held) {
    if (presence_lock_key_ == 0 || held == presence_wanted_) {
      return;
    }
    presence_wanted_ = held;
    if (!conn_) {
      return;  // applied by Connect()
    }
    try {
      pqxx::nontransaction tx(*conn_);
      tx.exec_params(held ? "SELECT pg_advisory_lock_shared($1)" : "SELECT pg_advisory_unlock_shared($1)",
                     presence_lock_key_);
      presence_since_ = held ? std::optional(std::chrono::steady_clock::now()) : std::nullopt;
    } catch (...) {
      Drop();  // the next Poll reconnects and applies the wanted state
      Backoff();
    }
  }

  std::optional<std::chrono::steady_clock::time_point> PresenceSince() const {
    return conn_ ? presence_since_ : std::nullopt;
  }

 private:
  bool Connect() {
    try {
      conn_ = std::make_unique<pqxx::connection>(settings_.dsn);
      DetectDeadPeer(conn_->sock());
      for (const auto& ch : channels_) {
        receivers_.push_back(std::make_unique<Receiver>(*conn_, ch, pending_));
      }
      // Make sure the LISTENs are active before reporting the resync. The application name lets an
      // operator (and the tests) tell this connection apart in pg_stat_activity.
      pqxx::nontransaction tx(*conn_);
      tx.exec("SET application_name = " + tx.quote(settings_.application_name));
      if (presence_wanted_) {
        tx.exec_params("SELECT pg_advisory_lock_shared($1)", presence_lock_key_);
        presence_since_ = std::chrono::steady_clock::now();
      }
      delay_ = std::chrono::milliseconds(0);
      return true;
    } catch (...) {
      Drop();
      Backoff();
      return false;
    }
  }

  void Drop() {
    presence_since_.reset();  // a session-level lock ends with its connection
    receivers_.clear();       // before the connection they refer to
    try {
      conn_.reset();
    } catch (...) {
    }
  }

  void Backoff() {
    delay_ = delay_.count() == 0 ? settings_.reconnect_min : std::min(delay_ * 2, settings_.reconnect_max);
    next_attempt_ = std::chrono::steady_clock::now() + delay_;
  }

  DbSettings settings_;
  std::vector<std::string> channels_;
  Callback callback_;
  std::int64_t presence_lock_key_ = 0;
  bool presence_wanted_ = false;
  std::optional<std::chrono::steady_clock::time_point> presence_since_;
  std::unique_ptr<pqxx::connection> conn_;
  std::vector<std::unique_ptr<Receiver>> receivers_;
  std::vector<Notification> pending_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds delay_{0};
};

Listener::Listener(DbSettings settings, std::vector<std::string> channels, Callback callback,
                   std::int64_t presence_lock_key)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(channels), std::move(callback),
                                   presence_lock_key)) {}

Listener::~Listener() = default;

Result<void> Listener::Poll(std::chrono::milliseconds timeout) { return impl_->Poll(timeout); }

bool Listener::IsConnected() const { return impl_->IsConnected(); }

void Listener::SetPresence(bool held) { impl_->SetPresence(held); }

std::optional<std::chrono::steady_clock::time_point> Listener::PresenceSince() const {
  return impl_->PresenceSince();
}

}  // namespace iot::store

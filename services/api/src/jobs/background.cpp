#include "jobs/background.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/device_messages.hpp"
#include "iot/store/maintenance.hpp"
#include "iot/store/rollups.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.background";

// strerror is not thread safe (a static buffer): the GNU strerror_r returns the text.
std::string ErrorText(int error) {
  char buffer[256];
  return ::strerror_r(error, buffer, sizeof buffer);
}

}  // namespace

bool ProbeState::Ready(std::string& detail) const {
  std::lock_guard lock(mutex_);
  detail = detail_;
  return ok_;
}

void ProbeState::Set(bool ok, std::string detail) {
  std::lock_guard lock(mutex_);
  ok_ = ok;
  detail_ = std::move(detail);
}

bool TcpReachable(const std::string& host, int port, std::chrono::milliseconds timeout, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result); rc != 0) {
    error = std::string("cannot resolve ") + host + ": " + ::gai_strerror(rc);
    return false;
  }
  bool ok = false;
  error = "no address";
  for (addrinfo* ai = result; ai != nullptr && !ok; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      error = ErrorText(errno);
      continue;
    }
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
      if (rc == 1) {
        int so_error = 0;
        socklen_t len = sizeof(so_error);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
        ok = so_error == 0;
        if (!ok) {
          error = ErrorText(so_error);
        }
      } else {
        error = "connect timed out";
      }
    } else {
      error = ErrorText(errno);
    }
    ::close(fd);
  }
  ::freeaddrinfo(result);
  if (ok) {
    error.clear();
  }
  return ok;
}

Background::Background(store::DbPool& pool, BackgroundSettings settings)
    : pool_(pool),
      settings_(std::move(settings)),
      db_probe_(std::make_shared<ProbeState>("postgresql")),
      broker_probe_(std::make_shared<ProbeState>("mqtt-broker")) {}

Background::~Background() { Stop(); }

void Background::AddProbes(Readiness& readiness) {
  readiness.Add(db_probe_);
  if (!settings_.mqtt_host.empty()) {
    readiness.Add(broker_probe_);
  }
}

void Background::AddGauges(metrics::Registry& metrics) {
  if (settings_.compaction_interval.count() > 0) {
    metrics.AddGaugeCallback(
        "iot_compaction_rows", "history rows moved into compressed blocks (since start)",
        [this] { return std::optional<double>(static_cast<double>(compacted_rows_.load())); });
    metrics.AddGaugeCallback(
        "iot_compaction_failures", "compaction rounds that failed (since start)",
        [this] { return std::optional<double>(static_cast<double>(compaction_failures_.load())); });
  }
  if (settings_.rollup_interval.count() == 0) {
    return;
  }
  const auto known = [](const std::atomic<double>& v) -> std::optional<double> {
    const double x = v.load();
    return std::isnan(x) ? std::nullopt : std::optional<double>(x);
  };
  metrics.AddGaugeCallback(
      "iot_rollup_lag_seconds",
      "seconds from the end of the rolled-up hours to now (2 to 62 minutes when current)",
      [this, known] { return known(rollup_lag_s_); });
  metrics.AddGaugeCallback("iot_rollup_late_waiting", "late values not merged into their rolled hour yet",
                           [this, known] { return known(rollup_late_waiting_); });
  metrics.AddGaugeCallback("iot_rollup_failures", "rollup rounds that failed (since start)", [this] {
    return std::optional<double>(static_cast<double>(rollup_failures_.load()));
  });
}

void Background::Start() {
  probe_thread_ = std::thread([this] { ProbeLoop(); });
  if (settings_.maintenance_interval.count() > 0) {
    maintenance_thread_ = std::thread([this] { MaintenanceLoop(); });
  }
  if (settings_.rollup_interval.count() > 0) {
    rollup_thread_ = std::thread([this] { RollupLoop(); });
  }
  if (settings_.compaction_interval.count() > 0) {
    compaction_thread_ = std::thread([this] { CompactionLoop(); });
  }
}

void Background::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (probe_thread_.joinable()) {
    probe_thread_.join();
  }
  if (maintenance_thread_.joinable()) {
    maintenance_thread_.join();
  }
  if (rollup_thread_.joinable()) {
    rollup_thread_.join();
  }
  if (compaction_thread_.joinable()) {
    compaction_thread_.join();
  }
}

bool Background::WaitFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, delay, [this] { return stopping_; });
}

void Background::ProbeLoop() {
  do {
    // PostgreSQL: a ping through the pool, so the probe also notices a saturated pool.
    auto probe = db_probe_;
    const bool queued = pool_.Submit([probe](store::Db& db) {
      auto ping = db.Ping();
      probe->Set(static_cast<bool>(ping), ping ? "" : "ping failed: " + ping.error().message());
    });
    if (!queued) {
      db_probe_->Set(false, "DB pool queue full or stopped");
    }
    if (!settings_.mqtt_host.empty()) {
      std::string error;
      const bool ok =
          TcpReachable(settings_.mqtt_host, settings_.mqtt_port, std::chrono::milliseconds(1000), error);
      broker_probe_->Set(
          ok, ok ? "" : settings_.mqtt_host + ":" + std::to_string(settings_.mqtt_port) + ": " + error);
    }
  } while (WaitFor(settings_.probe_interval));
}

void Background::MaintenanceLoop() {
  store::Db db(settings_.maintenance_db);
  do {
    const std::int64_t now = NowMs();
    if (auto partitions = store::EnsurePartitions(db, now); !partitions) {
      IOT_LOG_WARN(kLog,
                   "msg=\"EnsurePartitions failed\" error=" << log::Quote(partitions.error().message()));
    } else if (!partitions->created.empty() || partitions->moved_from_default > 0) {
      IOT_LOG_INFO(kLog, "msg=\"partitions created\" count=" << partitions->created.size()
                                                             << " moved=" << partitions->moved_from_default);
    }
    if (auto retention = store::ApplyRetention(db, now); !retention) {
      IOT_LOG_WARN(kLog, "msg=\"ApplyRetention failed\" error=" << log::Quote(retention.error().message()));
    } else if (!retention->dropped.empty() || retention->deleted_rows > 0) {
      IOT_LOG_INFO(kLog, "msg=\"retention applied\" dropped=" << retention->dropped.size()
                                                              << " deleted_rows=" << retention->deleted_rows);
    }
    if (auto pruned = store::PruneDeviceMessages(db, now, settings_.messages_per_device); !pruned) {
      IOT_LOG_WARN(kLog, "msg=\"PruneDeviceMessages failed\" error=" << log::Quote(pruned.error().message()));
    } else if (*pruned > 0) {
      IOT_LOG_INFO(kLog, "msg=\"custom-topic messages pruned\" deleted_rows=" << *pruned);
    }
    if (auto cleaned = store::CleanDedupe(db, now); !cleaned) {
      IOT_LOG_WARN(kLog, "msg=\"CleanDedupe failed\" error=" << log::Quote(cleaned.error().message()));
    }
  } while (WaitFor(settings_.maintenance_interval));
}

// Rounds every rollup_interval; while a round leaves work (a backlog of hours after an upgrade, a burst
// of late history), the next one starts at once.
void Background::RollupLoop() {
  store::Db db(settings_.rollup_db);
  std::chrono::milliseconds delay{0};
  while (WaitFor(delay)) {
    delay = settings_.rollup_interval;
    const std::int64_t now = NowMs();
    auto round = store::RollUp(db, now, settings_.rollup);
    if (!round) {
      ++rollup_failures_;
      IOT_LOG_WARN(kLog, "msg=\"RollUp failed\" error=" << log::Quote(round.error().message()));
      continue;
    }
    if (auto status = store::GetRollupStatus(db); status && status->rolled_until) {
      rollup_lag_s_ = static_cast<double>(now - *status->rolled_until) / 1000.0;
      rollup_late_waiting_ = static_cast<double>(status->late_waiting);
    }
    if (round->hours_rolled > 0 || round->late_merged > 0 || !round->dropped.empty()) {
      IOT_LOG_INFO(kLog, "msg=\"rollups\" hours=" << round->hours_rolled << " late=" << round->late_merged
                                                  << " dropped=" << round->dropped.size());
    }
    if (round->more) {
      delay = std::chrono::milliseconds(0);
    }
  }
}

// Rounds every compaction_interval, the first a minute after start (startup's own work first); a round
// compacts one closed day, and while days wait the next starts at once.
void Background::CompactionLoop() {
  store::Db db(settings_.compaction_db);
  std::chrono::milliseconds delay =
      std::min<std::chrono::milliseconds>(settings_.compaction_interval, std::chrono::seconds(60));
  while (WaitFor(delay)) {
    delay = settings_.compaction_interval;
    auto round = store::CompactHistory(db, NowMs());
    if (!round) {
      ++compaction_failures_;
      IOT_LOG_WARN(kLog, "msg=\"CompactHistory failed\" error=" << log::Quote(round.error().message()));
      continue;
    }
    compacted_rows_ += static_cast<std::uint64_t>(round->rows);
    if (round->rows > 0 || !round->emptied.empty()) {
      IOT_LOG_INFO(kLog, "msg=\"history compacted\" rows="
                             << round->rows << " values=" << round->values << " blocks=" << round->blocks
                             << " bytes=" << round->block_bytes << " emptied=" << round->emptied.size());
    }
    if (round->more) {
      delay = std::chrono::milliseconds(0);
    }
  }
}

}  // namespace iot::api

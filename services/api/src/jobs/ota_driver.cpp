#include "jobs/ota_driver.hpp"

#include <utility>

#include "control/mqtt_link.hpp"
#include "iot/alink/ota.hpp"
#include "iot/catalog/ota_package.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/product_config.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kLog = "api.ota";

log::RateLimiter& Noise() {
  static log::RateLimiter limiter(std::chrono::seconds(10));
  return limiter;
}

}  // namespace

OtaDriver::OtaDriver(Downlink& downlink, OtaDriverSettings settings)
    : downlink_(downlink), settings_(std::move(settings)), db_(settings_.db) {}

OtaDriver::~OtaDriver() { Stop(); }

void OtaDriver::Start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) {
    return;
  }
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void OtaDriver::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

bool OtaDriver::WaitFor(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, delay, [this] { return stopping_; });
}

void OtaDriver::Loop() {
  while (WaitFor(settings_.tick)) {
    Tick();
  }
  if (holding_) {
    (void)store::ReleaseLease(db_, store::kOtaLeaseName, settings_.holder);
    holding_ = false;
  }
}

void OtaDriver::Tick() {
  auto lease = store::AcquireLease(db_, store::kOtaLeaseName, settings_.holder, settings_.lease_ttl.count());
  if (!lease) {
    IOT_LOG_LIMITED(Noise(), log::Level::kWarn, kLog,
                    "msg=\"OTA lease not renewed\" error=" << log::Quote(lease.error().message()));
    holding_ = false;
    return;
  }
  const bool held = *lease == store::LeaseState::kHeld;
  if (held && !holding_) {
    IOT_LOG_INFO(kLog, "msg=\"driving OTA jobs\" holder=" << settings_.holder);
  } else if (!held && holding_) {
    IOT_LOG_INFO(kLog, "msg=\"OTA jobs are driven by another instance now\" holder=" << settings_.holder);
  }
  holding_ = held;
  if (!holding_ || !downlink_.Connected()) {
    return;  // without the broker nothing is pushed (and no task is marked pushed)
  }
  if (!url_key_) {
    auto key = store::EnsureUrlSigningKey(db_, store::kDownloadKeyName);
    if (!key) {
      return;
    }
    url_key_ = std::move(*key);
  }
  auto jobs = store::ListRunningOtaJobs(db_);
  if (!jobs) {
    return;
  }
  for (const std::string& job_id : *jobs) {
    auto step = store::StepOtaJob(db_, job_id, settings_.max_pushes_per_tick);
    if (!step) {
      if (!store::Is(step.error(), store::Errc::kNotFound)) {
        IOT_LOG_LIMITED(
            Noise(), log::Level::kWarn, kLog,
            "msg=\"OTA job step failed\" job=" << job_id << " error=" << log::Quote(step.error().message()));
      }
      continue;
    }
    if (!step->pushes.empty()) {
      const std::int64_t now_s = NowMs() / 1000;
      for (const store::OtaPush& push : step->pushes) {
        // Each push's link names its task (its downloads are counted there).
        const alink::OtaPackage package =
            catalog::OtaPackageFor(step->firmware, *url_key_, settings_.public_base_url, now_s, push.task_id);
        // A decimal id that fits 32 bits (the C SDK reads ids as integers).
        const std::string payload =
            alink::BuildOtaPush(std::to_string(push.task_id % 1'000'000'000), package);
        // A push lost here (the broker went away) times out and is retried like one the device missed.
        (void)downlink_.Publish("/ota/device/upgrade/" + push.product_key + "/" + push.device_name, payload,
                                1);
      }
    }
    if (step->finished || step->timed_out > 0 || !step->pushes.empty()) {
      IOT_LOG_DEBUG(kLog, "msg=\"OTA job step\" job=" << job_id << " pushes=" << step->pushes.size()
                                                      << " timed_out=" << step->timed_out
                                                      << " finished=" << step->finished);
    }
  }
}

}  // namespace iot::api

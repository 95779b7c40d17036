#include "directory_sync.hpp"

#include <chrono>
#include <optional>
#include <utility>

#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/store/db.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/listener.hpp"

namespace iot::broker {
namespace {

constexpr const char* kLog = "broker-plugin";

store::DbSettings Settings(const std::string& dsn) {
  store::DbSettings settings;
  settings.dsn = dsn;
  settings.application_name = "iot-broker-plugin";
  settings.statement_timeout = std::chrono::seconds(10);
  return settings;
}

// Devices changed since the broker thread last looked, kept for the sub-device session check; beyond
// this many the broker thread rechecks every session instead.
constexpr std::size_t kMaxChangedKeys = 10000;

DeviceRecord RecordOf(store::DeviceAuthInfo&& device) {
  DeviceRecord record{std::move(device.secret),    device.enabled,
                      device.timestamp_window_s,   std::move(device.product_secret),
                      device.dynamic_registration, device.registrable};
  record.gateway = device.node_type == store::NodeType::kGateway;
  if (!device.gateway_product_key.empty()) {
    record.gateway_key = DeviceDirectory::Key(device.gateway_product_key, device.gateway_device_name);
  }
  return record;
}

}  // namespace

DirectorySync::DirectorySync(std::string dsn, DeviceDirectory& directory)
    : dsn_(std::move(dsn)), directory_(directory), db_(std::make_unique<store::Db>(Settings(dsn_))) {}

DirectorySync::~DirectorySync() { Stop(); }

bool DirectorySync::LoadAll() {
  auto devices = store::ListAllDeviceAuth(*db_);
  if (!devices) {
    IOT_LOG_WARN(kLog, "msg=\"device load failed\" error=" << log::Quote(devices.error().message()));
    return false;
  }
  std::unordered_map<std::string, DeviceRecord> by_key;
  by_key.reserve(devices->size());
  for (auto& device : *devices) {
    by_key.emplace(DeviceDirectory::Key(device.product_key, device.device_name), RecordOf(std::move(device)));
  }
  directory_.ReplaceAll(std::move(by_key));
  IOT_LOG_INFO(kLog, "msg=\"devices loaded\" count=" << directory_.Size());
  return true;
}

bool DirectorySync::InitialLoad() {
  // The broker just started: nothing is connected, whatever the database says.
  if (auto marked = store::MarkAllOffline(*db_, NowMs()); !marked) {
    IOT_LOG_WARN(kLog,
                 "msg=\"database unreachable at start\" error=" << log::Quote(marked.error().message()));
    return false;
  }
  return LoadAll();
}

void DirectorySync::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void DirectorySync::Stop() {
  stop_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::vector<std::pair<std::string, std::string>> DirectorySync::TakeKicks(bool& recheck_all,
                                                                          std::vector<std::string>* changed) {
  std::lock_guard lock(kicks_mutex_);
  recheck_all = recheck_all_;
  recheck_all_ = false;
  if (changed != nullptr) {
    *changed = std::exchange(changed_, {});
  }
  return std::exchange(kicks_, {});
}

void DirectorySync::OnDeviceChanged(const std::string& payload) {
  const auto slash = payload.find('/');
  if (slash == std::string::npos) {
    return;
  }
  const std::string pk = payload.substr(0, slash);
  const std::string dn = payload.substr(slash + 1);
  auto device = store::LookupDevice(*db_, pk, dn);
  bool kick = false;
  std::optional<EnabledSubDevice> enabled_again;
  if (device) {
    const auto before = directory_.Find(pk, dn);
    kick = !device->enabled;
    DeviceRecord record = RecordOf(std::move(*device));
    if (before && !before->enabled && record.enabled && !record.gateway_key.empty()) {
      enabled_again = EnabledSubDevice{pk, dn, record.gateway_key};
    }
    directory_.Upsert(pk, dn, std::move(record));
  } else if (store::Is(device.error(), store::Errc::kNotFound)) {
    directory_.Remove(pk, dn);
    kick = true;
  } else {
    std::lock_guard lock(kicks_mutex_);
    recheck_all_ = true;  // could not tell: reload below on the next resync
    return;
  }
  std::lock_guard lock(kicks_mutex_);
  // After the directory changed: the broker thread rechecks sub-device sessions against it.
  if (changed_.size() < kMaxChangedKeys) {
    changed_.push_back(DeviceDirectory::Key(pk, dn));
  } else {
    recheck_all_ = true;
  }
  if (kick) {
    kicks_.emplace_back(pk, dn);
  }
  if (enabled_again && enabled_subs_.size() < kMaxChangedKeys) {
    enabled_subs_.push_back(std::move(*enabled_again));
  }
}

std::vector<DirectorySync::EnabledSubDevice> DirectorySync::TakeEnabledSubDevices() {
  std::lock_guard lock(kicks_mutex_);
  return std::exchange(enabled_subs_, {});
}

void DirectorySync::Run() {
  bool need_reload = false;
  // A product change (its timestamp window, productSecret, dynamicRegistration) reloads everything:
  // products change rarely.
  store::Listener listener(Settings(dsn_), {store::kChannelDevice, store::kChannelProduct},
                           [&](const store::Notification& note) {
                             if (note.resync || note.channel == store::kChannelProduct) {
                               need_reload = true;
                             } else {
                               OnDeviceChanged(note.payload);
                             }
                           });
  while (!stop_) {
    (void)listener.Poll(std::chrono::milliseconds(200));
    if (need_reload && !stop_) {
      if (LoadAll()) {
        need_reload = false;
        std::lock_guard lock(kicks_mutex_);
        recheck_all_ = true;
      }
    }
  }
}

}  // namespace iot::broker

#include "jobs/model_watcher.hpp"

#include <chrono>

#include "iot/store/listener.hpp"

namespace iot::api {

ModelWatcher::~ModelWatcher() { Stop(); }

void ModelWatcher::Start() {
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void ModelWatcher::Stop() {
  stopping_ = true;
  if (thread_.joinable()) {
    thread_.join();
  }
}

void ModelWatcher::Loop() {
  // Until the listener connects (and after every reconnect) it reports a resync, which clears the
  // cache: nothing stale is served while notifications could have been missed, beyond the cache's
  // time to live.
  store::Listener listener(db_, catalog::PublishedProducts::Channels(),
                           [this](const store::Notification& n) { products_.Apply(n); });
  while (!stopping_) {
    (void)listener.Poll(std::chrono::milliseconds(100));
  }
}

}  // namespace iot::api

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"

namespace iot::store {

// NOTIFY channels raised by triggers of the schema (payloads are plain text):
inline constexpr const char* kChannelProduct = "iot_product";         // product_key (insert/update/delete)
inline constexpr const char* kChannelThingModel = "iot_thing_model";  // product_key (publish)
inline constexpr const char* kChannelDevice = "iot_device";  // product_key/device_name (insert/update
                                                             // of enabled/secret/delete)
inline constexpr const char* kChannelDeviceStatus = "iot_device_status";  // product_key/device_name/status
                                                                          // (online|offline)
inline constexpr const char* kChannelToken = "iot_token";  // id/revoked or id/active (api_tokens
                                                           // update or delete)

struct Notification {
  std::string channel;
  std::string payload;
  // True after the connection was (re)established: notifications may have been missed, so caches
  // must reload everything. channel/payload are empty then.
  bool resync = false;
};

// Owns its own connection, LISTENs on the channels and delivers notifications to a callback, on the
// thread that calls Poll. Reconnects with backoff after a loss and then reports a resync. A loss is
// noticed by the next Poll when the server closed the connection, within about 5 s (TCP keepalive)
// when the server or the network vanished without closing it. The connection carries
// settings.application_name like every other connection of the store.
class Listener final {
 public:
  using Callback = std::function<void(const Notification&)>;

  // `presence_lock_key` != 0: while SetPresence(true), hold that advisory lock (shared, session
  // level) on the listening connection, so writers can tell that someone listens
  // (iot/store/stream.hpp). It is taken again after a reconnect.
  Listener(DbSettings settings, std::vector<std::string> channels, Callback callback,
           std::int64_t presence_lock_key = 0);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Waits up to `timeout` for notifications and delivers them. Returns kUnavailable while the server is
  // away (after waiting out the backoff, at most `timeout`). The first successful connect also
  // delivers a resync.
  Result<void> Poll(std::chrono::milliseconds timeout);
  bool IsConnected() const;
  // Takes or releases the presence lock now (when connected) and after every reconnect. Call on the
  // Poll thread.
  void SetPresence(bool held);
  // Since when the presence lock has been held on the current connection (nullopt: not held).
  std::optional<std::chrono::steady_clock::time_point> PresenceSince() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iot::store

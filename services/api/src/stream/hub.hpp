#pragma once

// The live stream's fan-out, independent of the transport: which client is subscribed to which
// product or device, and delivery of one change to exactly those clients (once each, even when a
// client is subscribed to both the product and the device). Thread-safe. Data messages come from one
// thread (the stream feed), so a device's messages reach every client in the order they were committed.

#include <atomic>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stream/client.hpp"

namespace iot::api::stream {

class Hub final {
 public:
  enum class AddResult { kAdded, kAlreadySubscribed, kTooMany, kClosed };

  AddResult Subscribe(const std::shared_ptr<Client>& client, const Subscription& subscription,
                      std::size_t max_per_client);
  // False when the client had no such subscription.
  bool Unsubscribe(const std::shared_ptr<Client>& client, const Subscription& subscription);
  // Drops every subscription of the client (it disconnected).
  void Remove(const std::shared_ptr<Client>& client);

  // Cheap check for the feed: false when nobody is subscribed to anything.
  bool Any() const { return subscriptions_.load(std::memory_order_relaxed) != 0; }
  bool WantsProduct(std::string_view product_key) const;

  // Clients whose wake was deferred by Publish; Wake() them once the batch is queued.
  using WakeList = std::vector<std::shared_ptr<Client>>;

  // Calls `build` at most once, only when some client wants (pk, dn), and queues the result on each
  // such client. Returns the number of clients it was queued on. With `deferred`, clients that need
  // a wake are added there instead of being woken now.
  std::size_t Publish(std::string_view product_key, std::string_view device_name,
                      const std::function<std::string()>& build, WakeList* deferred = nullptr);
  static void WakeAll(WakeList& deferred);

  std::size_t SubscriptionCount() const { return subscriptions_.load(std::memory_order_relaxed); }

 private:
  using ClientList = std::vector<std::shared_ptr<Client>>;
  struct ProductSubscribers {
    ClientList whole_product;
    std::unordered_map<std::string, ClientList> by_device;
  };

  ClientList& ListFor(ProductSubscribers& product, const std::string& device_name);

  mutable std::mutex mutex_;
  std::map<std::string, ProductSubscribers, std::less<>> products_;
  std::atomic<std::size_t> subscriptions_{0};
};

}  // namespace iot::api::stream

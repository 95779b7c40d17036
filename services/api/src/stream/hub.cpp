#include "stream/hub.hpp"

#include <algorithm>

namespace iot::api::stream {

Hub::ClientList& Hub::ListFor(ProductSubscribers& product, const std::string& device_name) {
  return device_name.empty() ? product.whole_product : product.by_device[device_name];
}

Hub::AddResult Hub::Subscribe(const std::shared_ptr<Client>& client, const Subscription& subscription,
                              std::size_t max_per_client) {
  std::lock_guard lock(mutex_);
  if (client->Closed()) {
    return AddResult::kClosed;  // it disconnected while its subscribe was being checked
  }
  auto& mine = client->Subscriptions();
  if (mine.count(subscription) != 0) {
    return AddResult::kAlreadySubscribed;
  }
  if (mine.size() >= max_per_client) {
    return AddResult::kTooMany;
  }
  mine.insert(subscription);
  ListFor(products_[subscription.first], subscription.second).push_back(client);
  subscriptions_.fetch_add(1, std::memory_order_relaxed);
  return AddResult::kAdded;
}

bool Hub::Unsubscribe(const std::shared_ptr<Client>& client, const Subscription& subscription) {
  std::lock_guard lock(mutex_);
  auto& mine = client->Subscriptions();
  if (mine.erase(subscription) == 0) {
    return false;
  }
  auto product = products_.find(subscription.first);
  if (product != products_.end()) {
    auto& list = ListFor(product->second, subscription.second);
    list.erase(std::remove(list.begin(), list.end(), client), list.end());
    if (list.empty() && !subscription.second.empty()) {
      product->second.by_device.erase(subscription.second);
    }
    if (product->second.whole_product.empty() && product->second.by_device.empty()) {
      products_.erase(product);
    }
  }
  subscriptions_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void Hub::Remove(const std::shared_ptr<Client>& client) {
  std::vector<Subscription> all;
  {
    std::lock_guard lock(mutex_);
    all.assign(client->Subscriptions().begin(), client->Subscriptions().end());
  }
  for (const auto& s : all) {
    Unsubscribe(client, s);
  }
}

bool Hub::WantsProduct(std::string_view product_key) const {
  if (!Any()) {
    return false;
  }
  std::lock_guard lock(mutex_);
  return products_.find(product_key) != products_.end();
}

void Hub::WakeAll(WakeList& deferred) {
  for (const auto& c : deferred) {
    c->Wake();
  }
  deferred.clear();
}

std::size_t Hub::Publish(std::string_view product_key, std::string_view device_name,
                         const std::function<std::string()>& build, WakeList* deferred) {
  if (!Any()) {
    return 0;
  }
  ClientList recipients;
  {
    std::lock_guard lock(mutex_);
    auto product = products_.find(product_key);
    if (product == products_.end()) {
      return 0;
    }
    recipients = product->second.whole_product;
    auto device = product->second.by_device.find(std::string(device_name));
    if (device != product->second.by_device.end()) {
      for (const auto& c : device->second) {
        if (std::find(recipients.begin(), recipients.end(), c) == recipients.end()) {
          recipients.push_back(c);
        }
      }
    }
  }
  if (recipients.empty()) {
    return 0;
  }
  auto message = std::make_shared<const std::string>(build());
  std::size_t queued = 0;
  for (const auto& c : recipients) {
    bool wake = false;
    queued += c->Push(message, deferred != nullptr ? &wake : nullptr) ? 1 : 0;
    if (wake) {
      deferred->push_back(c);
    }
  }
  return queued;
}

}  // namespace iot::api::stream

#include "directory.hpp"

#include <chrono>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/tsl/parser.hpp"

namespace iot::gateway {

std::shared_ptr<const tsl::ThingModel> ParsePublishedTsl(std::string_view tsl_json,
                                                         std::string* error) {
  auto fail = [&](std::string message) -> std::shared_ptr<const tsl::ThingModel> {
    if (error) *error = std::move(message);
    return nullptr;
  };
  if (tsl_json.empty()) return fail("no published thing model");
  nlohmann::json doc = nlohmann::json::parse(tsl_json, nullptr, false);
  if (doc.is_discarded()) return fail("published thing model is not JSON");
  std::string default_text;
  std::vector<std::string> custom_texts;
  if (doc.is_array()) {
    for (std::size_t i = 0; i < doc.size(); ++i) {
      (i == 0 ? default_text : custom_texts.emplace_back()) = doc[i].dump();
    }
  } else if (doc.is_object() && !doc.contains("properties") && !doc.contains("events") &&
             !doc.contains("services") && !doc.contains("schema") && !doc.contains("profile") &&
             !doc.empty()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key().empty()) {
        default_text = it.value().dump();
      } else {
        custom_texts.push_back(it.value().dump());
      }
    }
  } else {
    default_text = std::string(tsl_json);
  }
  std::vector<std::string_view> customs(custom_texts.begin(), custom_texts.end());
  tsl::ModelResult parsed = tsl::ParseThingModel(default_text, customs);
  if (!parsed.ok() || !parsed.model) {
    std::string message = "published thing model does not parse";
    if (!parsed.problems.empty()) {
      message += ": " + parsed.problems.front().pointer + " " + parsed.problems.front().message;
    }
    return fail(std::move(message));
  }
  return std::make_shared<const tsl::ThingModel>(std::move(*parsed.model));
}

CachingDirectory::CachingDirectory(DirectorySource& source, CacheSettings settings, Clock clock)
    : source_(source), settings_(settings), clock_(std::move(clock)) {}

std::int64_t CachingDirectory::Now() const {
  if (clock_) return clock_();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Result<DeviceEntry> CachingDirectory::FindDevice(std::string_view product_key,
                                                 std::string_view device_name) {
  std::string key;
  key.reserve(product_key.size() + device_name.size() + 1);
  key.append(product_key).append("/").append(device_name);
  const std::int64_t now = Now();
  std::lock_guard lock(mutex_);
  if (auto it = devices_.find(key); it != devices_.end()) {
    if (now - it->second.loaded_ms < settings_.ttl.count()) return it->second.entry;
    devices_.erase(it);
  }
  Result<DeviceEntry> loaded = source_.LoadDevice(product_key, device_name);
  if (!loaded) return loaded;
  if (devices_.size() >= settings_.max_devices) devices_.erase(devices_.begin());
  devices_[key] = DeviceSlot{*loaded, now};
  return loaded;
}

Result<std::shared_ptr<const ProductEntry>> CachingDirectory::FindProduct(
    std::string_view product_key) {
  const std::int64_t now = Now();
  std::lock_guard lock(mutex_);
  std::string key(product_key);
  if (auto it = products_.find(key); it != products_.end()) {
    if (now - it->second.loaded_ms < settings_.ttl.count()) return it->second.entry;
    products_.erase(it);
  }
  Result<ProductEntry> loaded = source_.LoadProduct(product_key);
  if (!loaded) return loaded.error();
  auto entry = std::make_shared<ProductEntry>(std::move(*loaded));
  if (entry->version && !entry->tsl_json.empty()) entry->model = ParsePublishedTsl(entry->tsl_json);
  if (products_.size() >= settings_.max_products) products_.erase(products_.begin());
  std::shared_ptr<const ProductEntry> shared = entry;
  products_[key] = ProductSlot{shared, now};
  return shared;
}

void CachingDirectory::InvalidateProduct(std::string_view product_key) {
  std::lock_guard lock(mutex_);
  products_.erase(std::string(product_key));
  // The device entries carry nothing product-level, so they stay.
  ++generation_;
}

void CachingDirectory::InvalidateDevice(std::string_view key) {
  std::lock_guard lock(mutex_);
  devices_.erase(std::string(key));
  ++generation_;
}

void CachingDirectory::Clear() {
  std::lock_guard lock(mutex_);
  devices_.clear();
  products_.clear();
  ++generation_;
}

std::size_t CachingDirectory::DeviceCount() const {
  std::lock_guard lock(mutex_);
  return devices_.size();
}

std::size_t CachingDirectory::ProductCount() const {
  std::lock_guard lock(mutex_);
  return products_.size();
}

}  // namespace iot::gateway

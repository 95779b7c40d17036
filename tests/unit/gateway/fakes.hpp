#pragma once

// Fakes for the gateway's ports: directory source, backend (store), publisher.

#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "directory.hpp"
#include "iot/store/errors.hpp"
#include "pipeline.hpp"

namespace iot::gateway::testing {

inline std::string ReadFixture(const std::string& relative) {
  std::ifstream in(std::string(IOT_SOURCE_DIR) + "/tests/fixtures/" + relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class FakeSource final : public DirectorySource {
 public:
  std::map<std::string, DeviceEntry> devices;  // "pk/dn"
  std::map<std::string, ProductEntry> products;
  bool unavailable = false;
  int device_loads = 0;
  int product_loads = 0;

  Result<DeviceEntry> LoadDevice(std::string_view pk, std::string_view dn) override {
    ++device_loads;
    if (unavailable) {
      return LookupErrc::kUnavailable;
    }
    auto it = devices.find(std::string(pk) + "/" + std::string(dn));
    if (it == devices.end()) {
      return LookupErrc::kNotFound;
    }
    return it->second;
  }
  Result<ProductEntry> LoadProduct(std::string_view pk) override {
    ++product_loads;
    if (unavailable) {
      return LookupErrc::kUnavailable;
    }
    auto it = products.find(std::string(pk));
    if (it == products.end()) {
      return LookupErrc::kNotFound;
    }
    return it->second;
  }
  std::string url_key = "fake url signing key";
  Result<std::string> LoadUrlSigningKey() override {
    if (unavailable) {
      return LookupErrc::kUnavailable;
    }
    return url_key;
  }
};

class FakeBackend final : public Backend {
 public:
  std::mutex mutex;
  int fail_next_writes = 0;  // answer kUnavailable this many times
  int write_calls = 0;
  std::vector<std::vector<store::TelemetryMessage>> batches;
  std::vector<Op> ops;
  std::set<std::tuple<std::int64_t, std::string, std::uint64_t>> seen;
  std::function<void()> on_commit;  // called after a successful write (before replies)

  Result<std::vector<store::MessageResult>> WriteTelemetry(
      std::span<const store::TelemetryMessage> batch) override {
    std::lock_guard lock(mutex);
    ++write_calls;
    if (fail_next_writes > 0) {
      --fail_next_writes;
      return store::Errc::kUnavailable;
    }
    std::vector<store::MessageResult> results;
    for (const auto& m : batch) {
      store::MessageResult r;
      if (!m.message_id.empty() && !seen.emplace(m.device_id, m.message_id, m.payload_hash).second) {
        r.outcome = store::WriteOutcome::kDuplicate;
      }
      results.push_back(r);
    }
    batches.emplace_back(batch.begin(), batch.end());
    if (on_commit) {
      on_commit();
    }
    return results;
  }
  // DesiredGetOp reads what the store would hold: a value asked for, one not asked for, one cleared.
  OpStatus Execute(const Op& op, OpResult& result) override {
    std::lock_guard lock(mutex);
    ops.push_back(op);
    if (std::holds_alternative<DesiredGetOp>(op)) {
      result.desired = {{"PowerOn", "1", 2}, {"TargetTemp", "21.5", 1}, {"FanLevel", std::nullopt, 3}};
    }
    return OpStatus::kDone;
  }
  // Recorded as one LifecycleOp each, like Execute's ops (lifecycle_calls counts the batches).
  OpStatus ApplyLifecycles(std::span<const store::LifecycleEvent> events) override {
    std::lock_guard lock(mutex);
    ++lifecycle_calls;
    for (const auto& e : events) {
      ops.push_back(LifecycleOp{e});
    }
    return OpStatus::kDone;
  }
  int lifecycle_calls = 0;
  std::size_t MessageCount() {
    std::lock_guard lock(mutex);
    std::size_t n = 0;
    for (const auto& b : batches) {
      n += b.size();
    }
    return n;
  }
};

class FakePublisher final : public Publisher {
 public:
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> published;
  bool Publish(const std::string& topic, const std::string& payload) override {
    std::lock_guard lock(mutex);
    published.emplace_back(topic, payload);
    return true;
  }
  std::size_t Count() {
    std::lock_guard lock(mutex);
    return published.size();
  }
};

// A directory with one product "a1Prod" (reference example model) and devices dev1 (enabled),
// dev2 (disabled); product "a1NoModel" has nothing published.
inline void AddReferenceProduct(FakeSource& source, tsl::Mode mode) {
  ProductEntry p;
  p.product_key = "a1Prod";
  p.mode = mode;
  p.version = 1;
  p.tsl_json = ReadFixture("tsl/valid/reference_example.json");
  source.products["a1Prod"] = p;
  ProductEntry none;
  none.product_key = "a1NoModel";
  none.mode = tsl::Mode::kWeak;
  source.products["a1NoModel"] = none;
  source.devices["a1Prod/dev1"] = DeviceEntry{11, true, "", "", "iot-dev1"};
  source.devices["a1Prod/dev2"] = DeviceEntry{12, false, "", "", "iot-dev2"};
  source.devices["a1NoModel/dev3"] = DeviceEntry{13, true, "", "", "iot-dev3"};
}

}  // namespace iot::gateway::testing

#pragma once

#include <memory>

#include "directory.hpp"
#include "iot/store/db.hpp"
#include "iot/store/ota.hpp"
#include "iot/store/telemetry_writer.hpp"
#include "pipeline.hpp"

// The pipeline's ports implemented with libs/store.
namespace iot::gateway {

// Device and product lookups for the cache. Owns one connection; the cache serialises calls.
class StoreDirectorySource final : public DirectorySource {
 public:
  explicit StoreDirectorySource(store::DbSettings settings);
  Result<DeviceEntry> LoadDevice(std::string_view product_key, std::string_view device_name) override;
  Result<ProductEntry> LoadProduct(std::string_view product_key) override;
  Result<std::string> LoadUrlSigningKey() override;

 private:
  store::Db db_;
};

// The writer thread's connection: batches through store::TelemetryWriter, side effects through the
// repositories.
class StoreBackend final : public Backend {
 public:
  explicit StoreBackend(store::DbSettings settings);
  Result<std::vector<store::MessageResult>> WriteTelemetry(
      std::span<const store::TelemetryMessage> batch) override;
  OpStatus Execute(const Op& op, OpResult& result) override;
  OpStatus ApplyLifecycles(std::span<const store::LifecycleEvent> events) override;
  store::Db& Database() { return db_; }

 private:
  OpStatus ExecuteShadow(const ShadowOp& op, OpResult& result);
  OpStatus ExecuteOta(const Result<std::optional<store::OtaTaskChange>>& r, std::int64_t device_id);
  OpStatus ExecuteTopology(const TopologyOp& op, OpResult& result);

  store::Db db_;
  store::TelemetryWriter writer_;
};

}  // namespace iot::gateway

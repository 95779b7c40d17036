#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"

// Device shadows (schemas/sql/011_device_shadow.sql): one JSON document and its version per device.
// The store keeps the text; libs/alink (iot/alink/shadow.hpp) knows what it means.
namespace iot::store {

struct ShadowRow {
  std::string document_json = "{}";  // "{}" when the device has no shadow yet
  std::int64_t version = 0;
};

// The device's shadow; an empty row when none is stored.
Result<ShadowRow> GetShadow(Db& db, std::int64_t device_id);

// Read-modify-write in one transaction with the device's shadow locked (concurrent writers, the
// gateway's and the API's, are serialised): `change` gets the stored row and returns the row to
// store, or nullopt to leave it as it is. Returns what is stored afterwards. An unknown device is
// kConflict (foreign key).
Result<ShadowRow> UpdateShadow(Db& db, std::int64_t device_id,
                               const std::function<std::optional<ShadowRow>(const ShadowRow&)>& change);

}  // namespace iot::store

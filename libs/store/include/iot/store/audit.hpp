#pragma once

#include <cstdint>
#include <string>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

struct AuditRecord {
  std::string actor;               // the token's name
  std::string action;              // e.g. "product.create"
  std::string target;              // e.g. "a1B2c3D4e5F/dev-1"
  std::string detail_json = "{}";  // any JSON document
};

struct AuditEntry {
  std::int64_t id = 0;
  TimeMs at = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string detail_json;
};

// `at` is the database's clock. kInvalid when detail_json is not JSON.
Result<AuditEntry> AppendAudit(Db& db, const AuditRecord& record);
// Keyset paging on (at, id); from inclusive, to exclusive; default order newest first.
Result<Page<AuditEntry>> ListAudit(Db& db, const TimeQuery& query);

}  // namespace iot::store

#include "iot/store/shadow.hpp"

#include "connection.hpp"

namespace iot::store {
namespace {

const Statement kShadowGet{"shadow_get",
                           "SELECT document::text, version FROM device_shadows WHERE device_id = $1"};
// Creates the row when missing so that FOR UPDATE has something to lock (an empty row is no shadow).
const Statement kShadowEnsure{"shadow_ensure",
                              "INSERT INTO device_shadows (device_id) VALUES ($1) ON CONFLICT DO NOTHING"};
const Statement kShadowLock{
    "shadow_lock", "SELECT document::text, version FROM device_shadows WHERE device_id = $1 FOR UPDATE"};
const Statement kShadowSet{
    "shadow_set",
    "UPDATE device_shadows SET document = $2::jsonb, version = $3, updated_at = iot_now_ms() "
    "WHERE device_id = $1"};

ShadowRow ReadRow(const pqxx::result& r) {
  ShadowRow row;
  if (!r.empty()) {
    row.document_json = r[0][0].as<std::string>();
    row.version = r[0][1].as<std::int64_t>();
  }
  return row;
}

}  // namespace

Result<ShadowRow> GetShadow(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ShadowRow> {
    pqxx::read_transaction tx(c);
    return ReadRow(Exec(tx, kShadowGet, device_id));
  });
}

Result<ShadowRow> UpdateShadow(Db& db, std::int64_t device_id,
                               const std::function<std::optional<ShadowRow>(const ShadowRow&)>& change) {
  return Run(db, [&](pqxx::connection& c) -> Result<ShadowRow> {
    pqxx::work tx(c);
    Exec(tx, kShadowEnsure, device_id);
    ShadowRow stored = ReadRow(Exec(tx, kShadowLock, device_id));
    std::optional<ShadowRow> next = change(stored);
    if (!next) {
      tx.commit();
      return stored;
    }
    Exec(tx, kShadowSet, device_id, next->document_json, next->version);
    tx.commit();
    return *next;
  });
}

}  // namespace iot::store

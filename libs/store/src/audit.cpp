#include "iot/store/audit.hpp"

#include "audit_tx.hpp"
#include "connection.hpp"

namespace iot::store {
namespace {

const Statement kAppend{"audit_append",
                        "INSERT INTO audit_log (actor, action, target, detail) "
                        "VALUES ($1, $2, $3, $4::jsonb) "
                        "RETURNING id, iot_ms(at), actor, action, target, detail::text"};
// Keyset on (at, id): the cursor bound is folded into the row comparison, see TimeBounds.
const Statement kListAsc{"audit_list_asc",
                         "SELECT id, iot_ms(at), actor, action, target, detail::text FROM audit_log "
                         "WHERE at >= iot_ts($1) AND at < iot_ts($2) AND (at, id) > (iot_ts($3), $4) "
                         "ORDER BY at, id LIMIT $5"};
const Statement kListDesc{"audit_list_desc",
                          "SELECT id, iot_ms(at), actor, action, target, detail::text FROM audit_log "
                          "WHERE at >= iot_ts($1) AND at < iot_ts($2) AND (at, id) < (iot_ts($3), $4) "
                          "ORDER BY at DESC, id DESC LIMIT $5"};

}  // namespace

pqxx::result AppendAuditIn(pqxx::transaction_base& tx, const AuditRecord& record) {
  return Exec(tx, kAppend, record.actor, record.action, record.target,
              record.detail_json.empty() ? std::string("{}") : record.detail_json);
}

Result<AuditEntry> AppendAudit(Db& db, const AuditRecord& record) {
  return Run(db, [&](pqxx::connection& c) -> Result<AuditEntry> {
    pqxx::work tx(c);
    auto r = AppendAuditIn(tx, record);
    tx.commit();
    const auto& row = r[0];
    return AuditEntry{row[0].as<std::int64_t>(), row[1].as<TimeMs>(),      row[2].as<std::string>(),
                      row[3].as<std::string>(),  row[4].as<std::string>(), row[5].as<std::string>()};
  });
}

Result<Page<AuditEntry>> ListAudit(Db& db, const TimeQuery& q) {
  KeysetBounds b;
  if (!MakeBounds(q, b)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<AuditEntry>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, q.order == Order::kAsc ? kListAsc : kListDesc, b.from, b.to, b.cursor_ts, b.cursor_id,
                  q.limit + 1);
    Page<AuditEntry> out;
    for (const auto& row : r) {
      if (static_cast<int>(out.items.size()) == q.limit) {
        out.next_cursor = FormatCursor(out.items.back().at, out.items.back().id);
        break;
      }
      out.items.push_back(AuditEntry{row[0].as<std::int64_t>(), row[1].as<TimeMs>(), row[2].as<std::string>(),
                                     row[3].as<std::string>(), row[4].as<std::string>(),
                                     row[5].as<std::string>()});
    }
    return out;
  });
}

}  // namespace iot::store

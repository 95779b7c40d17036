#pragma once

// Appends an audit record inside a transaction of another repository call, so that a change and the
// record of who made it commit together.

#include <pqxx/pqxx>

#include "iot/store/audit.hpp"

namespace iot::store {

pqxx::result AppendAuditIn(pqxx::transaction_base& tx, const AuditRecord& record);

}  // namespace iot::store

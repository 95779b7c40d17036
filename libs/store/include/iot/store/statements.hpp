#pragma once

#include <cstdint>

namespace iot::store {

// Statements the store has sent to PostgreSQL from the calling thread (prepared executions; the BEGIN and
// COMMIT of a transaction block are not counted). Tests read it before and after a call to count its
// round trips without server-side statistics.
std::uint64_t StatementsOnThisThread();

}  // namespace iot::store

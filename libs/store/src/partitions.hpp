#pragma once

// Daily partitions (<table>_pYYYYMMDD), shared by maintenance.cpp and compaction.cpp.

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

namespace iot::store {

inline constexpr std::int64_t kDayMs = 86400000;

// Day index (days since 1970-01-01 UTC) from a partition name "<table>_pYYYYMMDD"; false when it is not a
// daily partition of `table`.
bool ParseDay(const std::string& table, const std::string& part, std::int64_t& day);
// The partitions of `table` (daily ones and the default), by name.
std::vector<std::string> ListPartitions(pqxx::transaction_base& tx, const char* table);

}  // namespace iot::store

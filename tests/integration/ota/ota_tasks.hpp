#pragma once

// What the OTA tests read straight from PostgreSQL.
#include <cstdint>
#include <string>

#include <pqxx/pqxx>

namespace iot::ota::itest {

// The job's tasks upgrading now (pushed or downloading): never more than its maxConcurrent.
inline std::int64_t ActiveTasks(const std::string& dsn, const std::string& job_id) {
  pqxx::connection c(dsn);
  pqxx::read_transaction tx(c);
  return tx
      .exec_params("SELECT count(*) FROM ota_tasks WHERE job_id = $1 AND state IN ('pushed', 'downloading')",
                   job_id)[0][0]
      .as<std::int64_t>();
}

}  // namespace iot::ota::itest

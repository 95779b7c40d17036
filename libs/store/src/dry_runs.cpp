#include "iot/store/dry_runs.hpp"

#include "connection.hpp"

namespace iot::store {
namespace {

#define IOT_DRY_RUN_COLUMNS                                                           \
  "id, product_key, version, mode, iot_ms(from_ts), iot_ms(to_ts), state, progress, " \
  "result::text, error, requested_by, iot_ms(created_at), iot_ms(finished_at)"

const Statement kCreate{
    "dry_run_create",
    "INSERT INTO thing_model_dry_runs (product_key, version, model, mode, from_ts, to_ts, requested_by) "
    "SELECT $1, $2, $3::jsonb, $4, iot_ts($5), iot_ts($6), $7 "
    "WHERE EXISTS (SELECT 1 FROM products WHERE product_key = $1) "
    "RETURNING " IOT_DRY_RUN_COLUMNS};
const Statement kGet{"dry_run_get", "SELECT " IOT_DRY_RUN_COLUMNS
                                    " FROM thing_model_dry_runs WHERE product_key = $1 AND id = $2"};
const Statement kProgress{"dry_run_progress",
                          "UPDATE thing_model_dry_runs SET progress = $2 "
                          "WHERE id = $1 AND state = 'running'"};
const Statement kFinish{"dry_run_finish",
                        "UPDATE thing_model_dry_runs SET state = $2, result = $3::jsonb, error = $4, "
                        "progress = CASE WHEN $2 = 'done' THEN 1 ELSE progress END, "
                        "finished_at = iot_now_ms() WHERE id = $1 AND state = 'running'"};
const Statement kFailRunning{"dry_run_fail_running",
                             "UPDATE thing_model_dry_runs SET state = 'failed', error = $1, "
                             "finished_at = iot_now_ms() WHERE state = 'running'"};
const Statement kLatestForModel{
    "dry_run_latest_for_model",
    "SELECT " IOT_DRY_RUN_COLUMNS
    " FROM thing_model_dry_runs WHERE product_key = $1 AND state = 'done' AND model = $2::jsonb "
    "ORDER BY id DESC LIMIT 1"};
// Per device through rejections_device_ts, so a busy product's other data is never scanned.
const Statement kCountRefusals{
    "refusals_by_identifier",
    "SELECT r.identifier, count(*) FROM devices d JOIN rejections r ON r.device_id = d.id "
    "AND r.ts >= iot_ts($2) AND r.ts < iot_ts($3) WHERE d.product_key = $1 "
    "GROUP BY r.identifier ORDER BY count(*) DESC, r.identifier"};

DryRunState ParseState(const std::string& text) {
  if (text == "done") {
    return DryRunState::kDone;
  }
  if (text == "failed") {
    return DryRunState::kFailed;
  }
  return DryRunState::kRunning;
}

DryRun ReadRun(const pqxx::row& r) {
  DryRun run;
  run.id = r[0].as<std::int64_t>();
  run.product_key = r[1].as<std::string>();
  run.version = r[2].as<std::string>();
  run.mode = r[3].as<std::string>();
  run.from = r[4].as<TimeMs>();
  run.to = r[5].as<TimeMs>();
  run.state = ParseState(r[6].as<std::string>());
  run.progress = r[7].as<double>();
  run.result_json = Opt<std::string>(r[8]);
  run.error = r[9].as<std::string>();
  run.requested_by = r[10].as<std::string>();
  run.created_at = r[11].as<TimeMs>();
  run.finished_at = Opt<TimeMs>(r[12]);
  return run;
}

}  // namespace

std::string_view DryRunStateName(DryRunState state) {
  switch (state) {
    case DryRunState::kDone: return "done";
    case DryRunState::kFailed: return "failed";
    case DryRunState::kRunning: break;
  }
  return "running";
}

Result<DryRun> CreateDryRun(Db& db, const DryRunCreate& q) {
  return Run(db, [&](pqxx::connection& c) -> Result<DryRun> {
    pqxx::work tx(c);
    auto r = Exec(tx, kCreate, q.product_key, q.version, q.model_json, q.mode, q.from, q.to, q.requested_by);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    tx.commit();
    return ReadRun(r[0]);
  });
}

Result<DryRun> GetDryRun(Db& db, std::string_view product_key, std::int64_t id) {
  return Run(db, [&](pqxx::connection& c) -> Result<DryRun> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGet, S(product_key), id);
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadRun(r[0]);
  });
}

Result<void> SetDryRunProgress(Db& db, std::int64_t id, double progress) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    Exec(tx, kProgress, id, progress);
    tx.commit();
    return {};
  });
}

Result<void> FinishDryRun(Db& db, std::int64_t id, DryRunState state, std::optional<std::string> result_json,
                          std::string_view error) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    Exec(tx, kFinish, id, S(DryRunStateName(state)), result_json, S(error));
    tx.commit();
    return {};
  });
}

Result<std::int64_t> FailRunningDryRuns(Db& db, std::string_view error) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::int64_t> {
    pqxx::work tx(c);
    auto r = Exec(tx, kFailRunning, S(error));
    tx.commit();
    return static_cast<std::int64_t>(r.affected_rows());
  });
}

Result<std::optional<DryRun>> LatestDryRunForModel(Db& db, std::string_view product_key,
                                                   std::string_view model_json) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::optional<DryRun>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kLatestForModel, S(product_key), S(model_json));
    if (r.empty()) {
      return std::optional<DryRun>();
    }
    return std::optional<DryRun>(ReadRun(r[0]));
  });
}

Result<std::vector<IdentifierCount>> CountRefusalsByIdentifier(Db& db, std::string_view product_key,
                                                               TimeMs from, TimeMs to) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<IdentifierCount>> {
    pqxx::read_transaction tx(c);
    std::vector<IdentifierCount> out;
    for (const auto& row : Exec(tx, kCountRefusals, S(product_key), from, to)) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::int64_t>()});
    }
    return out;
  });
}

}  // namespace iot::store

#pragma once

// Thing-model dry runs (schemas/sql/006): a run re-validates what devices sent in a time window against
// a model (usually the draft); the store keeps its state, progress and result. The traffic itself is
// read with the device_data.hpp lists. Also the refusal counts of a product per identifier (the live
// view after a publish).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

enum class DryRunState { kRunning, kDone, kFailed };
std::string_view DryRunStateName(DryRunState state);  // "running", "done", "failed"

struct DryRunCreate {
  std::string product_key;
  std::string version;     // "draft" or a version number
  std::string model_json;  // the combined TSL it validates with
  std::string mode;        // none | weak | strict
  TimeMs from = 0;
  TimeMs to = 0;
  std::string requested_by;
};

struct DryRun {
  std::int64_t id = 0;
  std::string product_key;
  std::string version;
  std::string mode;
  TimeMs from = 0;
  TimeMs to = 0;
  DryRunState state = DryRunState::kRunning;
  double progress = 0;  // 0..1
  std::optional<std::string> result_json;
  std::string error;
  std::string requested_by;
  TimeMs created_at = 0;
  std::optional<TimeMs> finished_at;
};

// kNotFound when the product does not exist; kInvalid when model_json is not JSON.
Result<DryRun> CreateDryRun(Db& db, const DryRunCreate& request);
// kNotFound unless the run exists and belongs to the product.
Result<DryRun> GetDryRun(Db& db, std::string_view product_key, std::int64_t id);
// Progress of a running run (0..1); a finished run is left alone.
Result<void> SetDryRunProgress(Db& db, std::int64_t id, double progress);
// Ends a running run: kDone with its result, or kFailed with the reason.
Result<void> FinishDryRun(Db& db, std::int64_t id, DryRunState state, std::optional<std::string> result_json,
                          std::string_view error);
// Marks every running run failed with `error` (at start: a run of a previous process cannot resume).
Result<std::int64_t> FailRunningDryRuns(Db& db, std::string_view error);
// The newest finished (done) run of the product against exactly this model, if any.
Result<std::optional<DryRun>> LatestDryRunForModel(Db& db, std::string_view product_key,
                                                   std::string_view model_json);

struct IdentifierCount {
  std::string identifier;
  std::int64_t count = 0;
};
// Refused items of the product's devices stored in [from, to), per identifier ("" = refused whole
// messages), most refused first.
Result<std::vector<IdentifierCount>> CountRefusalsByIdentifier(Db& db, std::string_view product_key,
                                                               TimeMs from, TimeMs to);

}  // namespace iot::store

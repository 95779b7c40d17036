#pragma once

// Thing models as the thing-model handlers (thing_model.cpp, thing_model_changes.cpp) load them: the
// drafts built into one model, a published version, and the diff between two of them.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/store/db.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/tsl/diff.hpp"
#include "iot/tsl/thing_model.hpp"

namespace iot::api {

struct BuiltModel {
  nlohmann::json combined;  // [default module, custom modules...] as exported
  std::shared_ptr<const tsl::ThingModel> model;
};

// The product's drafts as one model. 409 without drafts or when they do not form a valid model
// (every problem listed). A product with only custom drafts gets an empty default module, stored as
// its draft when `store_missing_default` (publishing), in memory only otherwise.
BuiltModel BuildDraftModel(store::Db& db, const std::string& pk, bool store_missing_default);

struct LoadedVersion {
  store::ThingModelVersionInfo info;
  BuiltModel built;
};
// Version `number` (404 when missing), or the latest (nullopt when nothing is published).
std::optional<LoadedVersion> LoadVersion(store::Db& db, const std::string& pk, std::optional<int> number);

// {"changes":[...],"summary":{...}} of `from` (null: nothing published) to `to`.
nlohmann::json DiffJson(const std::vector<tsl::Change>& changes);
// The changes that break something, as JSON (at most `limit`).
nlohmann::json BreakingChangesJson(const std::vector<tsl::Change>& changes, std::size_t limit);

}  // namespace iot::api

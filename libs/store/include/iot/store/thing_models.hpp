#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/product_config.hpp"
#include "iot/store/types.hpp"

namespace iot::store {

// Thing models: one draft per (product, function_block_id; "" = default module), and published versions
// 1, 2, ... per product, each holding the full TSL of all modules plus the module documents it was built
// from. The store does not interpret TSL: the caller (API, with libs/tsl) normalises drafts and builds the
// combined document it publishes. Changes NOTIFY channel kChannelThingModel with the product key.

struct ThingModelDraft {
  std::string function_block_id;  // "" for the default module
  std::string tsl_json;
  TimeMs updated_at = 0;
};

struct ThingModelVersionInfo {
  int version = 0;
  TimeMs published_at = 0;
  std::string description;
};

struct ThingModelVersion {
  ThingModelVersionInfo info;
  std::string tsl_json;      // the combined TSL of all modules (what the gateway validates with)
  std::string modules_json;  // {"<functionBlockId>": <module TSL>, ...} with "" for the default module
};

// What the gateway needs to validate a product's data.
struct PublishedModel {
  std::string product_key;
  ValidationMode validation = ValidationMode::kWeak;
  std::optional<int> version;  // absent: nothing published yet (weak/strict refuse with 5159)
  std::string tsl_json;        // "" when no version
  DataFormat data_format = DataFormat::kAlink;
  std::optional<std::string> script;  // raw products: the parsing script, when one was saved
  TimeMs script_updated_at = 0;
  bool remote_config = false;               // thing.config.get answered (else 6713)
  std::optional<ProductConfigInfo> config;  // the current configuration file (none: 6710)
};

// kNotFound when the product does not exist; kInvalid when tsl_json is not JSON.
Result<ThingModelDraft> PutThingModelDraft(Db& db, std::string_view product_key,
                                           std::string_view function_block_id, std::string_view tsl_json);
// kNotFound when there is no such draft.
Result<ThingModelDraft> GetThingModelDraft(Db& db, std::string_view product_key,
                                           std::string_view function_block_id);
// Every module's draft of the product ("" first, then by id).
Result<std::vector<ThingModelDraft>> ListThingModelDrafts(Db& db, std::string_view product_key);
// Publishes the next version (max + 1, computed under a row lock of the product) with `combined_tsl_json`
// and a copy of all current drafts as modules_json. kNotFound without product, kInvalid without any draft.
Result<ThingModelVersionInfo> PublishThingModel(Db& db, std::string_view product_key,
                                                std::string_view combined_tsl_json,
                                                std::string_view description);
// Publishes a copy of version `source_version` (its TSL and modules) as the next version, under the
// same product lock (rollback). Drafts are left alone. kNotFound without product or source version.
Result<ThingModelVersionInfo> RepublishThingModelVersion(Db& db, std::string_view product_key,
                                                         int source_version, std::string_view description);
// `version` absent = latest. kNotFound when none.
Result<ThingModelVersion> GetThingModelVersion(Db& db, std::string_view product_key,
                                               std::optional<int> version);
// Newest first.
Result<std::vector<ThingModelVersionInfo>> ListThingModelVersions(Db& db, std::string_view product_key);
// kNotFound when the product does not exist.
Result<PublishedModel> GetPublishedModel(Db& db, std::string_view product_key);

}  // namespace iot::store

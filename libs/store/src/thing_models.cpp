#include "iot/store/thing_models.hpp"

#include "connection.hpp"
#include "product_config_tx.hpp"

namespace iot::store {
namespace {

const Statement kProductExists{"tm_product_exists",
                               "SELECT validation, data_format, script, "
                               "coalesce(iot_ms(script_updated_at), 0), remote_config FROM products "
                               "WHERE product_key = $1"};
const Statement kLockProduct{"tm_lock_product", "SELECT 1 FROM products WHERE product_key = $1 FOR UPDATE"};
const Statement kPutDraft{"tm_put_draft",
                          "INSERT INTO thing_model_drafts (product_key, function_block_id, tsl) "
                          "VALUES ($1, $2, $3::jsonb) ON CONFLICT (product_key, function_block_id) "
                          "DO UPDATE SET tsl = excluded.tsl, updated_at = iot_now_ms() "
                          "RETURNING function_block_id, tsl::text, iot_ms(updated_at)"};
const Statement kGetDraft{"tm_get_draft",
                          "SELECT function_block_id, tsl::text, iot_ms(updated_at) "
                          "FROM thing_model_drafts WHERE product_key = $1 AND function_block_id = $2"};
const Statement kListDrafts{"tm_list_drafts",
                            "SELECT function_block_id, tsl::text, iot_ms(updated_at) "
                            "FROM thing_model_drafts WHERE product_key = $1 ORDER BY function_block_id"};
const Statement kPublish{
    "tm_publish",
    "INSERT INTO thing_model_versions (product_key, version, description, tsl, modules) "
    "SELECT $1, coalesce((SELECT max(version) FROM thing_model_versions WHERE product_key = $1), 0) + 1, "
    "$3, $2::jsonb, (SELECT jsonb_object_agg(function_block_id, tsl) FROM thing_model_drafts "
    "WHERE product_key = $1) "
    "RETURNING version, iot_ms(published_at), description"};
const Statement kRepublish{
    "tm_republish",
    "INSERT INTO thing_model_versions (product_key, version, description, tsl, modules) "
    "SELECT $1, (SELECT max(version) FROM thing_model_versions WHERE product_key = $1) + 1, $3, tsl, "
    "modules FROM thing_model_versions WHERE product_key = $1 AND version = $2 "
    "RETURNING version, iot_ms(published_at), description"};
const Statement kHasDraft{"tm_has_draft",
                          "SELECT EXISTS (SELECT 1 FROM thing_model_drafts WHERE product_key = $1)"};
const Statement kGetVersion{"tm_get_version",
                            "SELECT version, iot_ms(published_at), description, tsl::text, modules::text "
                            "FROM thing_model_versions WHERE product_key = $1 AND version = $2"};
const Statement kGetLatest{"tm_get_latest",
                           "SELECT version, iot_ms(published_at), description, tsl::text, modules::text "
                           "FROM thing_model_versions WHERE product_key = $1 "
                           "ORDER BY version DESC LIMIT 1"};
const Statement kListVersions{"tm_list_versions",
                              "SELECT version, iot_ms(published_at), description "
                              "FROM thing_model_versions WHERE product_key = $1 ORDER BY version DESC"};

ThingModelDraft ReadDraft(const pqxx::row& r) {
  return ThingModelDraft{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<TimeMs>()};
}

ThingModelVersionInfo ReadInfo(const pqxx::row& r) {
  return ThingModelVersionInfo{r[0].as<int>(), r[1].as<TimeMs>(), r[2].as<std::string>()};
}

bool ProductExists(pqxx::transaction_base& tx, const std::string& pk) {
  return !Exec(tx, kProductExists, pk).empty();
}

}  // namespace

Result<ThingModelDraft> PutThingModelDraft(Db& db, std::string_view product_key,
                                           std::string_view function_block_id, std::string_view tsl_json) {
  return Run(db, [&](pqxx::connection& c) -> Result<ThingModelDraft> {
    pqxx::work tx(c);
    if (!ProductExists(tx, S(product_key))) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kPutDraft, S(product_key), S(function_block_id), S(tsl_json));
    tx.commit();
    return ReadDraft(r[0]);
  });
}

Result<ThingModelDraft> GetThingModelDraft(Db& db, std::string_view product_key,
                                           std::string_view function_block_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<ThingModelDraft> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetDraft, S(product_key), S(function_block_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadDraft(r[0]);
  });
}

Result<std::vector<ThingModelDraft>> ListThingModelDrafts(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ThingModelDraft>> {
    pqxx::read_transaction tx(c);
    if (!ProductExists(tx, S(product_key))) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<ThingModelDraft> out;
    for (const auto& row : Exec(tx, kListDrafts, S(product_key))) {
      out.push_back(ReadDraft(row));
    }
    return out;
  });
}

Result<ThingModelVersionInfo> PublishThingModel(Db& db, std::string_view product_key,
                                                std::string_view combined_tsl_json,
                                                std::string_view description) {
  return Run(db, [&](pqxx::connection& c) -> Result<ThingModelVersionInfo> {
    pqxx::work tx(c);
    // The product row lock serialises publishers, so max(version) + 1 cannot collide.
    if (Exec(tx, kLockProduct, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    if (!Exec(tx, kHasDraft, S(product_key))[0][0].as<bool>()) {
      return make_error_code(Errc::kInvalid);
    }
    auto r = Exec(tx, kPublish, S(product_key), S(combined_tsl_json), S(description));
    tx.commit();
    return ReadInfo(r[0]);
  });
}

Result<ThingModelVersionInfo> RepublishThingModelVersion(Db& db, std::string_view product_key,
                                                         int source_version, std::string_view description) {
  return Run(db, [&](pqxx::connection& c) -> Result<ThingModelVersionInfo> {
    pqxx::work tx(c);
    if (Exec(tx, kLockProduct, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    auto r = Exec(tx, kRepublish, S(product_key), source_version, S(description));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    tx.commit();
    return ReadInfo(r[0]);
  });
}

Result<ThingModelVersion> GetThingModelVersion(Db& db, std::string_view product_key,
                                               std::optional<int> version) {
  return Run(db, [&](pqxx::connection& c) -> Result<ThingModelVersion> {
    pqxx::read_transaction tx(c);
    auto r = version ? Exec(tx, kGetVersion, S(product_key), *version) : Exec(tx, kGetLatest, S(product_key));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ThingModelVersion{ReadInfo(r[0]), r[0][3].as<std::string>(), r[0][4].as<std::string>()};
  });
}

Result<std::vector<ThingModelVersionInfo>> ListThingModelVersions(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<ThingModelVersionInfo>> {
    pqxx::read_transaction tx(c);
    if (!ProductExists(tx, S(product_key))) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<ThingModelVersionInfo> out;
    for (const auto& row : Exec(tx, kListVersions, S(product_key))) {
      out.push_back(ReadInfo(row));
    }
    return out;
  });
}

Result<PublishedModel> GetPublishedModel(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<PublishedModel> {
    pqxx::read_transaction tx(c);
    auto p = Exec(tx, kProductExists, S(product_key));
    if (p.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    PublishedModel out;
    out.product_key = S(product_key);
    Parse(p[0][0].as<std::string>(), out.validation);
    Parse(p[0][1].as<std::string>(), out.data_format);
    if (!p[0][2].is_null()) {
      out.script = p[0][2].as<std::string>();
    }
    out.script_updated_at = p[0][3].as<TimeMs>();
    out.remote_config = p[0][4].as<bool>();
    out.config = CurrentConfigInfoIn(tx, out.product_key);
    auto r = Exec(tx, kGetLatest, S(product_key));
    if (!r.empty()) {
      out.version = r[0][0].as<int>();
      out.tsl_json = r[0][3].as<std::string>();
    }
    return out;
  });
}

}  // namespace iot::store

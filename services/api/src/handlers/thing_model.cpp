// /api/v1/products/{pk}/thing-model: drafts per module (PUT/GET ?version=draft), publish, published
// versions (GET ?version=latest|N), version list. TSL is parsed and exported with libs/tsl; the store
// keeps the normalised documents.
#include <charconv>

#include "handlers/common.hpp"
#include "handlers/thing_model_common.hpp"
#include "http/body_schema.hpp"
#include "iot/catalog/published_products.hpp"
#include "iot/store/dry_runs.hpp"
#include "iot/store/products.hpp"
#include "iot/store/thing_models.hpp"
#include "iot/tsl/export.hpp"
#include "iot/tsl/parser.hpp"
#include "iot/tsl/published.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kVersionsCursorKind = "tm-versions";

std::string FunctionBlockIdParam(const Request& request) {
  return std::string(request.Query("functionBlockId").value_or(""));
}

// The default module a publish needs when only custom modules were drafted.
std::string EmptyDefaultModule(const std::string& pk) {
  return nlohmann::json{{"profile", {{"productKey", pk}}},
                        {"properties", nlohmann::json::array()},
                        {"events", nlohmann::json::array()},
                        {"services", nlohmann::json::array()}}
      .dump();
}

// Parses a PUT body into a module of product `pk` (module `fbid`); 400 listing every problem.
// A profile.productKey of another product (a model exported from Alibaba's console) is replaced by `pk`
// and reported in `notices`.
tsl::Module ParseDraft(nlohmann::json document, const std::string& pk, const std::string& fbid,
                       std::vector<ErrorItem>& notices) {
  std::vector<ErrorItem> problems;
  if (!document.is_object()) {
    throw ApiError::BadRequest("a TSL document must be a JSON object",
                               {{"", 0, "a TSL document must be a JSON object"}});
  }
  auto profile = document.find("profile");
  if (profile == document.end()) {
    document["profile"] = {{"productKey", pk}};
  } else if (profile->is_object()) {
    auto key = profile->find("productKey");
    if (key == profile->end() || key->is_null()) {
      (*profile)["productKey"] = pk;
    } else if (key->is_string() && key->get_ref<const std::string&>() != pk) {
      notices.push_back({"/profile/productKey", 0,
                         "productKey " + key->get<std::string>() + " replaced by this product's key " + pk});
      *key = pk;
    }
  }
  auto block = document.find("functionBlockId");
  if (!fbid.empty()) {
    if (block == document.end()) {
      document["functionBlockId"] = fbid;
    } else if (!block->is_string() || block->get_ref<const std::string&>() != fbid) {
      problems.push_back(
          {"/functionBlockId", 0, "functionBlockId must be absent or equal to ?functionBlockId=" + fbid});
    }
    if (!document.contains("functionBlockName")) {
      document["functionBlockName"] = fbid;
    }
  } else if (block != document.end()) {
    problems.push_back({"/functionBlockId", 0,
                        "the default module has no functionBlockId: use ?functionBlockId= for a "
                        "custom module"});
  }
  tsl::ModuleResult parsed = tsl::ParseModuleDocument(document);
  for (const auto& problem : parsed.problems) {
    problems.push_back({problem.pointer, 0, problem.message});
  }
  if (!problems.empty() || !parsed.module) {
    std::string detail = std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") +
                         " in the thing model";
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
  parsed.module->product_key = pk;
  return std::move(*parsed.module);
}

// version=draft|latest|N.
struct VersionSelector {
  bool draft = false;
  std::optional<int> number;  // absent with !draft: latest
};

VersionSelector ParseVersion(const Request& request) {
  VersionSelector selector;
  auto text = request.Query("version");
  if (!text || *text == "latest") {
    return selector;
  }
  if (*text == "draft") {
    selector.draft = true;
    return selector;
  }
  int number = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), number);
  if (ec != std::errc() || end != text->data() + text->size() || number < 1) {
    throw ApiError::BadRequest("query parameter version must be draft, latest or a version number",
                               {{"", 0,
                                 "query parameter version must be draft, latest or a "
                                 "positive integer"}});
  }
  selector.number = number;
  return selector;
}

void RequireProduct(store::Db& db, const std::string& pk) {
  Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
}

}  // namespace

BuiltModel BuildDraftModel(store::Db& db, const std::string& pk, bool store_missing_default) {
  auto drafts = Unwrap(store::ListThingModelDrafts(db, pk), "no such product: " + pk);
  if (drafts.empty()) {
    throw ApiError::Conflict("product " + pk + " has no thing-model draft");
  }
  std::optional<tsl::Module> default_module;
  std::vector<tsl::Module> custom;
  std::vector<ErrorItem> problems;
  for (const auto& draft : drafts) {
    tsl::ModuleResult parsed = tsl::ParseModule(draft.tsl_json);
    for (const auto& p : parsed.problems) {
      problems.push_back({p.pointer, 0, "module \"" + draft.function_block_id + "\": " + p.message});
    }
    if (!parsed.module) {
      continue;
    }
    if (draft.function_block_id.empty()) {
      default_module = std::move(*parsed.module);
    } else {
      custom.push_back(std::move(*parsed.module));
    }
  }
  if (!default_module && problems.empty()) {
    const std::string empty = EmptyDefaultModule(pk);
    tsl::ModuleResult parsed = tsl::ParseModule(empty);
    if (!parsed.module) {
      throw ApiError::Internal("cannot build an empty default module");
    }
    if (store_missing_default) {
      Unwrap(store::PutThingModelDraft(db, pk, "", tsl::ExportModuleText(*parsed.module)));
    }
    default_module = std::move(*parsed.module);
  }
  BuiltModel out;
  if (problems.empty()) {
    out.combined = nlohmann::json::array();
    out.combined.push_back(tsl::ExportModule(*default_module));
    for (const auto& module : custom) {
      out.combined.push_back(tsl::ExportModule(module));
    }
    tsl::ModelResult model = tsl::BuildThingModel(std::move(*default_module), std::move(custom));
    for (const auto& p : model.problems) {
      problems.push_back({p.pointer, 0,
                          (p.module.empty() ? std::string("default module") : "module \"" + p.module + "\"") +
                              ": " + p.message});
    }
    if (model.model) {
      out.model = std::make_shared<const tsl::ThingModel>(std::move(*model.model));
    }
  }
  if (!problems.empty() || !out.model) {
    ApiError error = ApiError::Conflict("the drafts do not form a valid thing model");
    error.errors = std::move(problems);
    throw error;
  }
  return out;
}

std::optional<LoadedVersion> LoadVersion(store::Db& db, const std::string& pk, std::optional<int> number) {
  auto version = store::GetThingModelVersion(db, pk, number);
  if (!version && version.error() == make_error_code(store::Errc::kNotFound) && !number) {
    return std::nullopt;
  }
  auto v = Unwrap(std::move(version), "no version " + (number ? std::to_string(*number) : "") +
                                          " of the thing model of product " + pk);
  LoadedVersion out;
  out.info = v.info;
  std::string error;
  out.built.model = tsl::ParsePublishedModel(v.tsl_json, &error);
  if (!out.built.model) {
    throw ApiError::Internal("version " + std::to_string(v.info.version) + " does not parse: " + error);
  }
  out.built.combined = JsonValue(v.tsl_json);
  return out;
}

nlohmann::json DiffJson(const std::vector<tsl::Change>& changes) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : changes) {
    list.push_back(tsl::ChangeToJson(c));
  }
  return {{"changes", std::move(list)}, {"summary", tsl::SummaryToJson(tsl::Summarise(changes))}};
}

nlohmann::json BreakingChangesJson(const std::vector<tsl::Change>& changes, std::size_t limit) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : changes) {
    if (list.size() >= limit) {
      break;
    }
    if (c.breaks_devices || c.breaks_applications) {
      list.push_back(tsl::ChangeToJson(c));
    }
  }
  return list;
}

namespace {

void PutThingModelDraft(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string fbid = FunctionBlockIdParam(request);
  std::vector<ErrorItem> notices;
  tsl::Module module = ParseDraft(ParseJsonBody(request), pk, fbid, notices);
  nlohmann::json normalised = tsl::ExportModule(module);
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& notice : notices) {
    notes.push_back({{"path", notice.path}, {"message", notice.message}});
  }
  RunOnDb(pool, respond,
          [request = std::move(request), pk, fbid, notes = std::move(notes),
           normalised = std::move(normalised)](store::Db& db) {
            const std::string text = normalised.dump();
            Unwrap(store::PutThingModelDraft(db, pk, fbid, text), "no such product: " + pk);
            Audit(db, request, "thingModel.draft", fbid.empty() ? pk : pk + ":" + fbid);
            return JsonOk(200, {{"version", "draft"}, {"tsl", normalised}, {"notices", notes}});
          });
}

void GetThingModel(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string fbid = FunctionBlockIdParam(request);
  VersionSelector selector = ParseVersion(request);
  RunOnDb(pool, respond, [pk, fbid, selector](store::Db& db) {
    const std::string module_name = fbid.empty() ? "the default module" : "module " + fbid;
    if (selector.draft) {
      auto draft =
          Unwrap(store::GetThingModelDraft(db, pk, fbid), "no draft of " + module_name + " of product " + pk);
      return JsonResponse(200, draft.tsl_json);
    }
    auto version = Unwrap(store::GetThingModelVersion(db, pk, selector.number),
                          selector.number ? "no version " + std::to_string(*selector.number) +
                                                " of the thing model of product " + pk
                                          : "product " + pk + " has no published thing model");
    nlohmann::json modules = JsonValue(version.modules_json);
    if (!modules.is_object() || !modules.contains(fbid)) {
      throw ApiError::NotFound(module_name + " is not in version " + std::to_string(version.info.version));
    }
    return JsonOk(200, modules[fbid]);
  });
}

void PublishThingModel(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::string description;
  bool confirm_breaking = false;
  if (!request.body.empty()) {
    static const BodySchema kSchema = BodySchema()
                                          .Optional("description", FieldType::kString, {.max = 1024})
                                          .Optional("confirmBreaking", FieldType::kBoolean);
    nlohmann::json body = ParseJsonBody(request, kSchema);
    description = body.value("description", std::string());
    confirm_breaking = body.value("confirmBreaking", false);
  }
  RunOnDb(
      pool, respond,
      [request = std::move(request), pk, description, confirm_breaking,
       products = context.products](store::Db& db) {
        RequireProduct(db, pk);
        BuiltModel draft = BuildDraftModel(db, pk, true);
        const std::string combined = draft.combined.dump();
        // Against the published version: what breaks, and what the newest dry run of exactly
        // this draft saw. The first version breaks no device that follows an older one.
        std::optional<LoadedVersion> latest = LoadVersion(db, pk, std::nullopt);
        std::vector<tsl::Change> changes;
        nlohmann::json dry_run = nullptr;
        std::uint64_t refused_by_dry_run = 0;
        if (latest) {
          changes = tsl::DiffModels(latest->built.model.get(), *draft.model);
          auto run = Unwrap(store::LatestDryRunForModel(db, pk, combined));
          if (run && run->result_json) {
            nlohmann::json result = JsonValue(*run->result_json);
            refused_by_dry_run = result.value("acceptedToRefused", std::uint64_t{0});
            dry_run = {{"id", std::to_string(run->id)},
                       {"acceptedToRefused", refused_by_dry_run},
                       {"refusedToAccepted", result.value("refusedToAccepted", std::uint64_t{0})}};
          }
        }
        const tsl::DiffSummary summary = tsl::Summarise(changes);
        const bool breaking = summary.breaking() || refused_by_dry_run > 0;
        if (breaking && !confirm_breaking) {
          ApiError error = ApiError::Conflict(
              "the draft breaks devices or applications of version " + std::to_string(latest->info.version) +
              ": review GET .../thing-model/diff and publish with \"confirmBreaking\": true");
          for (const auto& c : changes) {
            if (!c.breaks_devices && !c.breaks_applications) {
              continue;
            }
            error.errors.push_back({"/confirmBreaking", 0,
                                    std::string(tsl::ChangeKindName(c.kind)) + " " + c.identifier +
                                        (c.path.empty() ? "" : "." + c.path) + ": " + c.detail + " (" +
                                        std::string(tsl::ChangeClassName(c.Class())) + ")"});
            if (error.errors.size() >= 50) {
              break;
            }
          }
          if (refused_by_dry_run > 0) {
            error.errors.push_back({"/confirmBreaking", 0,
                                    "the dry run of this draft refuses " +
                                        std::to_string(refused_by_dry_run) +
                                        " recorded values that were accepted"});
          }
          error.extra_members.emplace_back("summary", tsl::SummaryToJson(summary).dump());
          error.extra_members.emplace_back("dryRun", dry_run.dump());
          throw error;
        }
        auto info = Unwrap(store::PublishThingModel(db, pk, combined, description), "no such product: " + pk);
        if (products != nullptr) {
          products->Invalidate(
              pk);  // this process's reads see the new version at once (others: notification)
        }
        nlohmann::json detail = {{"version", info.version}, {"description", description}};
        if (latest) {
          detail["previousVersion"] = latest->info.version;
          detail["diff"] = tsl::SummaryToJson(summary);
          detail["breakingChanges"] = BreakingChangesJson(changes, 50);
          detail["confirmedBreaking"] = breaking;
          detail["dryRun"] = dry_run;
        }
        Audit(db, request, "thingModel.publish", pk, detail);
        return JsonOk(201, {{"version", info.version}, {"publishedAt", info.published_at}});
      });
}

void ListThingModelVersions(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  ListParams params = ParseListParams(request);
  std::size_t offset = 0;
  if (params.cursor) {
    nlohmann::json fields = DecodeCursor(kVersionsCursorKind, *params.cursor);
    auto it = fields.find("o");
    if (it == fields.end() || !it->is_number_unsigned()) {
      throw ApiError::BadRequest("invalid cursor: pass back nextCursor unchanged");
    }
    offset = it->get<std::size_t>();
  }
  RunOnDb(pool, respond, [pk, params, offset](store::Db& db) {
    RequireProduct(db, pk);
    auto versions = Unwrap(store::ListThingModelVersions(db, pk));
    nlohmann::json items = nlohmann::json::array();
    std::size_t i = offset;
    for (; i < versions.size() && items.size() < static_cast<std::size_t>(params.limit); ++i) {
      const auto& v = versions[i];
      items.push_back(
          {{"version", v.version}, {"publishedAt", v.published_at}, {"description", v.description}});
    }
    std::optional<std::string> next;
    if (i < versions.size()) {
      next = EncodeCursor(kVersionsCursorKind, {{"o", i}});
    }
    return JsonResponse(200, ListBody(items, next));
  });
}

const RouteSpec kRoutes[] = {
    {"PUT", "/api/v1/products/{pk}/thing-model", kAdmin, PutThingModelDraft},
    {"GET", "/api/v1/products/{pk}/thing-model", kViewer, GetThingModel},
    {"POST", "/api/v1/products/{pk}/thing-model/publish", kAdmin, PublishThingModel},
    {"GET", "/api/v1/products/{pk}/thing-model/versions", kViewer, ListThingModelVersions},
};

}  // namespace

void AddThingModelRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

// Changing a thing model safely: /api/v1/products/{pk}/thing-model/diff (what changes, classified),
// thing-model:dry-run and thing-model/dry-runs/{id} (what a draft would do to recorded traffic),
// thing-model/rollback (republish the previous version) and thing-model/refusals (refusals per
// identifier since the latest publish against the hour before it).
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <tuple>

#include "handlers/common.hpp"
#include "handlers/thing_model_common.hpp"
#include "http/body_schema.hpp"
#include "iot/store/dry_runs.hpp"
#include "iot/store/products.hpp"
#include "jobs/dry_run.hpp"

namespace iot::api {
namespace {

constexpr std::int64_t kHourMs = 60LL * 60 * 1000;
constexpr std::int64_t kDefaultDryRunWindowMs = 24 * kHourMs;
constexpr std::int64_t kMaxDryRunWindowMs = 7 * 24 * kHourMs;
// How long after a publish the console shows the live refusal view.
constexpr std::int64_t kLiveWindowMs = kHourMs;

std::optional<int> ParsePositive(std::string_view text) {
  int number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end != text.data() + text.size() || number < 1) {
    return std::nullopt;
  }
  return number;
}

// A diff side: "latest", "draft" (when allowed) or a version number.
struct Side {
  bool draft = false;
  std::optional<int> number;  // absent with !draft: latest
  std::string label;
};

Side ParseSide(const Request& request, std::string_view name, std::string_view fallback, bool draft_allowed) {
  const std::string text(request.Query(name).value_or(fallback));
  Side side;
  side.label = text;
  if (text == "latest") {
    return side;
  }
  if (text == "draft" && draft_allowed) {
    side.draft = true;
    return side;
  }
  side.number = ParsePositive(text);
  if (!side.number) {
    const std::string allowed =
        draft_allowed ? "draft, latest or a version number" : "latest or a version number";
    throw ApiError::BadRequest("query parameter " + std::string(name) + " must be " + allowed,
                               {{"", 0, "query parameter " + std::string(name) + " must be " + allowed}});
  }
  return side;
}

nlohmann::json DryRunJson(const store::DryRun& run) {
  return {{"id", std::to_string(run.id)},
          {"version", run.version},
          {"mode", run.mode},
          {"from", run.from},
          {"to", run.to},
          {"state", store::DryRunStateName(run.state)},
          {"progress", run.progress},
          {"result", run.result_json ? JsonValue(*run.result_json) : nlohmann::json(nullptr)},
          {"error", NullIfEmpty(run.error)},
          {"requestedBy", run.requested_by},
          {"createdAt", run.created_at},
          {"finishedAt", TimeOrNull(run.finished_at)}};
}

// {"version":"draft"|N,"from":ms,"to":ms}, every field optional.
struct DryRunRequest {
  std::optional<int> version;  // absent: the draft
  std::int64_t from = 0;
  std::int64_t to = 0;
};

DryRunRequest ParseDryRunRequest(const Request& request) {
  static const BodySchema kSchema = BodySchema()
                                        .Optional("version", FieldType::kAny)
                                        .Optional("from", FieldType::kInteger)
                                        .Optional("to", FieldType::kInteger);
  nlohmann::json body = request.body.empty() ? nlohmann::json::object() : ParseJsonBody(request, kSchema);
  DryRunRequest out;
  if (auto v = body.find("version"); v != body.end() && !v->is_null()) {
    if (v->is_number_integer() && v->get<std::int64_t>() >= 1 && v->get<std::int64_t>() <= INT32_MAX) {
      out.version = v->get<int>();
    } else if (v->is_string() && v->get_ref<const std::string&>() != "draft") {
      out.version = ParsePositive(v->get_ref<const std::string&>());
      if (!out.version) {
        throw ApiError::BadRequest("version must be \"draft\" or a version number",
                                   {{"/version", 0, "must be \"draft\" or a version number"}});
      }
    } else if (!v->is_string()) {
      throw ApiError::BadRequest("version must be \"draft\" or a version number",
                                 {{"/version", 0, "must be \"draft\" or a version number"}});
    }
  }
  out.to = body.contains("to") ? body["to"].get<std::int64_t>() : NowMs();
  out.from = body.contains("from") ? body["from"].get<std::int64_t>() : out.to - kDefaultDryRunWindowMs;
  std::vector<ErrorItem> problems;
  if (out.from >= out.to) {
    problems.push_back({"/from", 0, "from must be before to"});
  }
  if (out.to - out.from > kMaxDryRunWindowMs) {
    problems.push_back({"/from", 0, "the window is at most 7 days (604800000 ms)"});
  }
  if (!problems.empty()) {
    throw ApiError::BadRequest("invalid dry-run window", std::move(problems));
  }
  return out;
}

void DiffThingModel(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  Side from = ParseSide(request, "from", "latest", false);
  Side to = ParseSide(request, "to", "draft", true);
  RunOnDb(pool, respond, [pk, from, to](store::Db& db) {
    Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
    std::optional<LoadedVersion> before = LoadVersion(db, pk, from.number);
    nlohmann::json body;
    std::vector<tsl::Change> changes;
    if (to.draft) {
      BuiltModel draft = BuildDraftModel(db, pk, false);
      changes = tsl::DiffModels(before ? before->built.model.get() : nullptr, *draft.model);
      body = DiffJson(changes);
      body["to"] = "draft";
      auto run = Unwrap(store::LatestDryRunForModel(db, pk, draft.combined.dump()));
      body["dryRun"] = run ? DryRunJson(*run) : nlohmann::json(nullptr);
    } else {
      std::optional<LoadedVersion> after = LoadVersion(db, pk, to.number);
      if (!after) {
        throw ApiError::NotFound("product " + pk + " has no published thing model");
      }
      changes = tsl::DiffModels(before ? before->built.model.get() : nullptr, *after->built.model);
      body = DiffJson(changes);
      body["to"] = after->info.version;
    }
    body["from"] = before ? nlohmann::json(before->info.version) : nlohmann::json(nullptr);
    return JsonOk(200, body);
  });
}

void StartDryRun(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  DryRunner* runner = context.dry_runs;
  std::string pk = ProductKeyParam(request);
  if (runner == nullptr) {
    throw ApiError::Unavailable("dry runs are not available");
  }
  DryRunRequest body = ParseDryRunRequest(request);
  RunOnDb(pool, respond, [request = std::move(request), pk, body, runner](store::Db& db) {
    auto product = Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
    BuiltModel built;
    if (body.version) {
      built = LoadVersion(db, pk, body.version)->built;
    } else {
      built = BuildDraftModel(db, pk, false);
    }
    const tsl::Mode mode = tsl::ParseMode(store::ToString(product.validation)).value_or(tsl::Mode::kWeak);
    store::DryRunCreate create;
    create.product_key = pk;
    create.version = body.version ? std::to_string(*body.version) : "draft";
    create.model_json = built.combined.dump();
    create.mode = std::string(tsl::ModeName(mode));
    create.from = body.from;
    create.to = body.to;
    create.requested_by = AuditRecordFor(request, "", "").actor;
    auto run = Unwrap(store::CreateDryRun(db, create), "no such product: " + pk);
    DryRunJob job{run.id, pk, built.model, mode, body.from, body.to};
    if (!runner->Submit(std::move(job))) {
      (void)store::FinishDryRun(db, run.id, store::DryRunState::kFailed, std::nullopt,
                                "too many dry runs queued");
      ApiError busy = ApiError::Unavailable("too many dry runs queued: retry later");
      busy.headers.emplace_back("Retry-After", "5");
      throw busy;
    }
    Audit(
        db, request, "thingModel.dryRun", pk,
        {{"id", std::to_string(run.id)}, {"version", create.version}, {"from", body.from}, {"to", body.to}});
    Response response = JsonOk(202, {{"id", std::to_string(run.id)}, {"state", "running"}});
    response.headers.emplace_back(
        "Location", "/api/v1/products/" + pk + "/thing-model/dry-runs/" + std::to_string(run.id));
    return response;
  });
}

void GetDryRun(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  const std::string& text = request.Param("id");
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 1) {
    throw ApiError::NotFound("no such dry run: " + text);
  }
  RunOnDb(pool, respond, [pk, id](store::Db& db) {
    auto run = Unwrap(store::GetDryRun(db, pk, id), "no such dry run: " + std::to_string(id));
    return JsonOk(200, DryRunJson(run));
  });
}

void RollbackThingModel(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  std::optional<int> target;
  std::string description;
  if (!request.body.empty()) {
    static const BodySchema kSchema =
        BodySchema()
            .Optional("version", FieldType::kInteger, {.min = 1, .max = INT32_MAX})
            .Optional("description", FieldType::kString, {.max = 1024});
    nlohmann::json body = ParseJsonBody(request, kSchema);
    if (body.contains("version")) {
      target = body["version"].get<int>();
    }
    description = body.value("description", std::string());
  }
  RunOnDb(pool, respond, [request = std::move(request), pk, target, description](store::Db& db) mutable {
    Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
    std::optional<LoadedVersion> latest = LoadVersion(db, pk, std::nullopt);
    if (!latest) {
      throw ApiError::Conflict("product " + pk + " has no published thing model");
    }
    const int source = target.value_or(latest->info.version - 1);
    if (source < 1) {
      throw ApiError::Conflict("version " + std::to_string(latest->info.version) +
                               " is the only published version: nothing to roll back to");
    }
    if (source == latest->info.version) {
      throw ApiError::Conflict("version " + std::to_string(source) + " is already the latest");
    }
    std::optional<LoadedVersion> restored = LoadVersion(db, pk, source);
    auto changes = tsl::DiffModels(latest->built.model.get(), *restored->built.model);
    if (description.empty()) {
      description = "rollback of version " + std::to_string(latest->info.version) + " to version " +
                    std::to_string(source);
    }
    auto info = Unwrap(store::RepublishThingModelVersion(db, pk, source, description),
                       "no version " + std::to_string(source) + " of product " + pk);
    nlohmann::json summary = tsl::SummaryToJson(tsl::Summarise(changes));
    Audit(db, request, "thingModel.rollback", pk,
          {{"version", info.version},
           {"rolledBack", latest->info.version},
           {"restored", source},
           {"diff", summary},
           {"breakingChanges", BreakingChangesJson(changes, 50)}});
    return JsonOk(201, {{"version", info.version},
                        {"publishedAt", info.published_at},
                        {"restoredVersion", source},
                        {"summary", summary}});
  });
}

void ListRefusals(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  RunOnDb(pool, respond, [pk](store::Db& db) {
    Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
    auto versions = Unwrap(store::ListThingModelVersions(db, pk));
    if (versions.empty()) {
      throw ApiError::NotFound("product " + pk + " has no published thing model");
    }
    const auto& latest = versions.front();
    const std::int64_t now = std::max<std::int64_t>(NowMs(), latest.published_at + 1);
    const std::int64_t published = latest.published_at;
    auto after = Unwrap(store::CountRefusalsByIdentifier(db, pk, published, now));
    auto before = Unwrap(store::CountRefusalsByIdentifier(db, pk, published - kHourMs, published));
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> merged;
    std::int64_t total_after = 0, total_before = 0;
    for (const auto& c : after) {
      merged[c.identifier].first = c.count;
      total_after += c.count;
    }
    for (const auto& c : before) {
      merged[c.identifier].second = c.count;
      total_before += c.count;
    }
    const double after_hours = static_cast<double>(now - published) / static_cast<double>(kHourMs);
    // Most refused since the publish first.
    std::vector<std::tuple<std::int64_t, std::int64_t, std::string>> rows;
    for (const auto& [identifier, counts] : merged) {
      rows.emplace_back(-counts.first, -counts.second, identifier);
    }
    std::sort(rows.begin(), rows.end());
    nlohmann::json identifiers = nlohmann::json::array();
    for (const auto& [after_neg, before_neg, identifier] : rows) {
      identifiers.push_back({{"identifier", identifier},
                             {"after", -after_neg},
                             {"before", -before_neg},
                             {"afterPerHour", static_cast<double>(-after_neg) / after_hours},
                             {"beforePerHour", -before_neg}});
    }
    nlohmann::json previous = nullptr;
    if (versions.size() > 1) {
      previous = versions[1].version;
    }
    return JsonOk(200,
                  {{"version", latest.version},
                   {"publishedAt", published},
                   {"previousVersion", previous},
                   {"now", now},
                   {"live", now - published < kLiveWindowMs},
                   {"after", {{"from", published}, {"to", now}, {"total", total_after}}},
                   {"before", {{"from", published - kHourMs}, {"to", published}, {"total", total_before}}},
                   {"identifiers", std::move(identifiers)}});
  });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/products/{pk}/thing-model/diff", kViewer, DiffThingModel},
    {"POST", "/api/v1/products/{pk}/thing-model:dry-run", kAdmin, StartDryRun},
    {"GET", "/api/v1/products/{pk}/thing-model/dry-runs/{id}", kViewer, GetDryRun},
    {"POST", "/api/v1/products/{pk}/thing-model/rollback", kAdmin, RollbackThingModel},
    {"GET", "/api/v1/products/{pk}/thing-model/refusals", kViewer, ListRefusals},
};

}  // namespace

void AddThingModelChangeRoutes(Router& router, HandlerContext& context) {
  AddRoutes(router, context, kRoutes);
}

}  // namespace iot::api

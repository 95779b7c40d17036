// OTA over REST. /api/v1/products/{pk}/devices/{dn}/ota: what OTA knows about one device — the version
// it last informed per module (/ota/device/inform, recorded by the gateway) and its upgrade tasks,
// newest first (its OTA history). /api/v1/products/{pk}/firmwares/{firmwareId}/jobs: upgrade jobs,
// created here and rolled out by the job driver (jobs/ota_driver.hpp); their counts per state, their
// tasks page by page, and cancel.
#include "iot/store/ota.hpp"

#include <optional>
#include <string>

#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/store/devices.hpp"

namespace iot::api {
namespace {

constexpr int kHistoryLimit = 100;
constexpr std::string_view kTaskCursor = "otaTasks";

nlohmann::json StepOrNull(const std::optional<int>& step) {
  return step ? nlohmann::json(*step) : nlohmann::json(nullptr);
}

const BodySchema& JobSchema() {
  static const BodySchema kSchema = [] {
    auto tag = std::make_shared<BodySchema>();
    tag->Required("key", FieldType::kString, {.min = 1, .max = 128})
        .Required("value", FieldType::kString, {.max = 128});
    BodySchema root;
    root.Required("target", FieldType::kString, {.one_of = {"all", "list", "tag"}})
        .Optional("deviceNames", FieldType::kArray,
                  {.min = 1, .max = double(store::kMaxJobDeviceNames), .items = FieldType::kString})
        .Optional("tag", FieldType::kObject, {.object = tag})
        .Optional("dynamic", FieldType::kBoolean)
        .Optional("maxConcurrent", FieldType::kInteger, {.min = 1, .max = 100000})
        .Optional("pushesPerMinute", FieldType::kInteger, {.min = 0, .max = 1000000})
        .Optional("retries", FieldType::kInteger, {.min = 0, .max = 100})
        .Optional("timeoutS", FieldType::kInteger, {.min = 1, .max = 7 * 86400});
    return root;
  }();
  return kSchema;
}

const char* TargetName(store::OtaTarget target) {
  switch (target) {
    case store::OtaTarget::kList: return "list";
    case store::OtaTarget::kTag: return "tag";
    case store::OtaTarget::kAll: break;
  }
  return "all";
}

nlohmann::json JobJson(const store::OtaJob& job) {
  nlohmann::json counts = nlohmann::json::object();
  std::int64_t total = 0;
  for (const auto& [state, count] : job.counts) {
    counts[state] = count;
    total += count;
  }
  nlohmann::json out = {{"jobId", job.job_id},
                        {"firmwareId", NullIfEmpty(job.firmware_id)},
                        {"productKey", job.product_key},
                        {"module", job.module},
                        {"version", job.version},
                        {"target", TargetName(job.target)},
                        {"dynamic", job.dynamic},
                        {"maxConcurrent", job.max_concurrent},
                        {"pushesPerMinute", job.pushes_per_minute},
                        {"retries", job.retries},
                        {"timeoutS", job.timeout_s},
                        {"state", job.state},
                        {"createdAt", job.created_at},
                        {"createdBy", job.created_by},
                        {"finishedAt", TimeOrNull(job.finished_at)},
                        {"devices", total},
                        {"counts", std::move(counts)}};
  if (job.target == store::OtaTarget::kList) {
    out["deviceNames"] = job.device_names;
  }
  if (job.target == store::OtaTarget::kTag) {
    out["tag"] = {{"key", job.tag_key}, {"value", job.tag_value}};
  }
  return out;
}

const std::string& FirmwareIdParam(const Request& request) { return request.Param("firmwareId"); }

// The job of the path: in the product, of that firmware (a job whose firmware was deleted is still
// found under the id it had).
store::OtaJob JobOfPath(store::Db& db, const std::string& pk, const std::string& firmware_id,
                        const std::string& job_id) {
  store::OtaJob job = Unwrap(store::GetOtaJob(db, pk, job_id), "no such OTA job: " + job_id);
  if (!job.firmware_id.empty() && job.firmware_id != firmware_id) {
    throw ApiError::NotFound("no such OTA job of firmware " + firmware_id + ": " + job_id);
  }
  return job;
}

void CreateJob(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, JobSchema());
  store::OtaJobCreate create;
  create.product_key = pk;
  create.firmware_id = FirmwareIdParam(request);
  const std::string target = body["target"].get<std::string>();
  create.target = target == "list"  ? store::OtaTarget::kList
                  : target == "tag" ? store::OtaTarget::kTag
                                    : store::OtaTarget::kAll;
  if (create.target == store::OtaTarget::kList) {
    if (!body.contains("deviceNames")) {
      throw ApiError::BadRequest("target \"list\" needs deviceNames");
    }
    create.device_names = body["deviceNames"].get<std::vector<std::string>>();
  }
  if (create.target == store::OtaTarget::kTag) {
    if (!body.contains("tag")) {
      throw ApiError::BadRequest("target \"tag\" needs tag {\"key\",\"value\"}");
    }
    create.tag_key = body["tag"]["key"].get<std::string>();
    create.tag_value = body["tag"]["value"].get<std::string>();
  }
  create.dynamic = body.value("dynamic", false);
  create.max_concurrent = body.value("maxConcurrent", 10);
  create.pushes_per_minute = body.value("pushesPerMinute", 0);
  create.retries = body.value("retries", 0);
  create.timeout_s = body.value("timeoutS", 3600);
  create.created_by = request.principal ? request.principal->name : "";
  RunOnDb(context.pool, respond, [request = std::move(request), create, pk](store::Db& db) {
    store::OtaJob job = Unwrap(store::CreateOtaJob(db, create),
                               "no such firmware in product " + pk + ": " + create.firmware_id);
    nlohmann::json out = JobJson(job);
    Audit(db, request, "ota.job.create", pk,
          {{"jobId", job.job_id}, {"firmwareId", create.firmware_id}, {"devices", out["devices"]}});
    return JsonOk(201, out);
  });
}

void ListJobs(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string firmware_id = FirmwareIdParam(request);
  RunOnDb(context.pool, respond, [pk, firmware_id](store::Db& db) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& job :
         Unwrap(store::ListFirmwareJobs(db, pk, firmware_id), "no such firmware: " + firmware_id)) {
      items.push_back(JobJson(job));
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

void GetJob(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string firmware_id = FirmwareIdParam(request);
  std::string job_id = request.Param("jobId");
  RunOnDb(context.pool, respond, [pk, firmware_id, job_id](store::Db& db) {
    return JsonOk(200, JobJson(JobOfPath(db, pk, firmware_id, job_id)));
  });
}

void ListTasks(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string firmware_id = FirmwareIdParam(request);
  std::string job_id = request.Param("jobId");
  ListParams params = ParseListParams(request);
  store::PageQuery page{.limit = params.limit, .cursor = UnwrapCursor(kTaskCursor, params.cursor)};
  RunOnDb(context.pool, respond, [pk, firmware_id, job_id, page](store::Db& db) {
    JobOfPath(db, pk, firmware_id, job_id);
    auto tasks = Unwrap(store::ListOtaTasks(db, pk, job_id, page), "no such OTA job: " + job_id);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& t : tasks.items) {
      items.push_back({{"deviceName", t.device_name},
                       {"state", t.state},
                       {"step", StepOrNull(t.step)},
                       {"desc", t.desc},
                       {"attempts", t.attempts},
                       {"srcVersion", t.src_version},
                       {"downloads", t.downloads},
                       {"updatedAt", t.updated_at}});
    }
    Response response;
    response.status = 200;
    response.content_type = "application/json";
    response.body = ListBody(items, WrapCursor(kTaskCursor, tasks.next_cursor));
    return response;
  });
}

void CancelJob(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string firmware_id = FirmwareIdParam(request);
  std::string job_id = request.Param("jobId");
  RunOnDb(context.pool, respond, [request = std::move(request), pk, firmware_id, job_id](store::Db& db) {
    JobOfPath(db, pk, firmware_id, job_id);
    store::OtaJob job =
        Unwrap(store::CancelOtaJob(db, pk, job_id), "OTA job " + job_id + " is no longer running");
    Audit(db, request, "ota.job.cancel", pk, {{"jobId", job_id}});
    return JsonOk(200, JobJson(job));
  });
}

void GetDeviceOta(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(context.pool, respond, [pk, dn](store::Db& db) {
    store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    nlohmann::json modules = nlohmann::json::array();
    for (const auto& m : Unwrap(store::ListDeviceModules(db, device.id))) {
      modules.push_back({{"module", m.module}, {"version", m.version}, {"updatedAt", m.updated_at}});
    }
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& t : Unwrap(store::ListDeviceOtaTasks(db, device.id, kHistoryLimit))) {
      tasks.push_back({{"jobId", t.job_id},
                       {"module", t.module},
                       {"version", t.version},
                       {"srcVersion", t.task.src_version},
                       {"state", t.task.state},
                       {"step", StepOrNull(t.task.step)},
                       {"desc", t.task.desc},
                       {"attempts", t.task.attempts},
                       {"downloads", t.task.downloads},
                       {"updatedAt", t.task.updated_at}});
    }
    return JsonOk(200, {{"modules", std::move(modules)}, {"tasks", std::move(tasks)}});
  });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/products/{pk}/devices/{dn}/ota", kViewer, GetDeviceOta},
    {"POST", "/api/v1/products/{pk}/firmwares/{firmwareId}/jobs", kOperator, CreateJob},
    {"GET", "/api/v1/products/{pk}/firmwares/{firmwareId}/jobs", kViewer, ListJobs},
    {"GET", "/api/v1/products/{pk}/firmwares/{firmwareId}/jobs/{jobId}", kViewer, GetJob},
    {"GET", "/api/v1/products/{pk}/firmwares/{firmwareId}/jobs/{jobId}/tasks", kViewer, ListTasks},
    {"POST", "/api/v1/products/{pk}/firmwares/{firmwareId}/jobs/{jobId}:cancel", kOperator, CancelJob},
};

}  // namespace

void AddOtaRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

#include "iot/store/ota.hpp"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>
#include <pqxx/largeobject>

#include "connection.hpp"
#include "iot/common/digest.hpp"

namespace iot::store {
namespace {

using Json = nlohmann::json;

// Bytes moved between the source and the large object per write.
constexpr std::size_t kUploadChunk = 256 * 1024;
// Jobs listed per firmware (each with its counts).
constexpr int kMaxFirmwareJobs = 100;

#define IOT_FIRMWARE_COLUMNS                                                                            \
  "f.firmware_id, f.product_key, f.module, f.version, array_to_json(f.src_versions)::text, f.is_diff, " \
  "f.ext_data::text, f.size, f.md5, f.sha256, f.downloads, iot_ms(f.created_at), f.created_by"
constexpr int kFirmwareColumnCount = 13;

const Statement kProductExists{"ota_product_exists", "SELECT 1 FROM products WHERE product_key = $1"};
const Statement kInsertFirmware{
    "ota_insert_firmware",
    "INSERT INTO firmwares AS f (firmware_id, product_key, module, version, src_versions, is_diff, "
    "ext_data, size, md5, sha256, content_oid, created_by) "
    "SELECT $1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6, $7::jsonb, $8, $9, $10, "
    "$11::bigint::oid, $12 RETURNING " IOT_FIRMWARE_COLUMNS};
const Statement kFirmwareExists{
    "ota_firmware_exists", "SELECT 1 FROM firmwares WHERE product_key = $1 AND module = $2 AND version = $3"};
const Statement kGetFirmware{"ota_get_firmware",
                             "SELECT " IOT_FIRMWARE_COLUMNS " FROM firmwares f WHERE f.firmware_id = $1"};
const Statement kListFirmwares{"ota_list_firmwares", "SELECT " IOT_FIRMWARE_COLUMNS
                                                     " FROM firmwares f WHERE f.product_key = $1 "
                                                     "ORDER BY f.created_at DESC, f.firmware_id LIMIT $2"};
const Statement kFirmwareOid{"ota_firmware_oid",
                             "SELECT content_oid::bigint FROM firmwares WHERE firmware_id = $1"};
const Statement kFirmwareBusy{"ota_firmware_busy",
                              "SELECT 1 FROM ota_jobs WHERE firmware_id = $1 AND state = 'running' LIMIT 1"};
const Statement kLockFirmware{
    "ota_lock_firmware", "SELECT 1 FROM firmwares WHERE firmware_id = $1 AND product_key = $2 FOR UPDATE"};
const Statement kDeleteFirmware{"ota_delete_firmware", "DELETE FROM firmwares WHERE firmware_id = $1"};
const Statement kCountDownload{
    "ota_count_download",
    "UPDATE firmwares SET downloads = downloads + 1 WHERE firmware_id = $1 RETURNING 1"};
// A task's download: only a task of a job of that firmware (migration 018).
const Statement kCountTaskDownload{"ota_count_task_download",
                                   "UPDATE ota_tasks t SET downloads = t.downloads + 1 FROM ota_jobs j "
                                   "WHERE t.task_id = $1 AND j.job_id = t.job_id AND j.firmware_id = $2"};

// Device side. "Active" = queued, pushed or downloading (at most one per device and module).
const Statement kUpsertModule{"ota_upsert_module",
                              "INSERT INTO device_modules (device_id, module, version, updated_at) "
                              "SELECT id, $2, $3, iot_ts($4) FROM devices WHERE id = $1 "
                              "ON CONFLICT (device_id, module) DO UPDATE SET version = EXCLUDED.version, "
                              "updated_at = EXCLUDED.updated_at RETURNING 1"};
const Statement kInformTask{
    "ota_inform_task",
    "UPDATE ota_tasks t SET state = 'succeeded', step = 100, updated_at = iot_ts($4) FROM ota_jobs j "
    "WHERE t.device_id = $1 AND t.module = $2 AND t.state IN ('queued', 'pushed', 'downloading') "
    "AND j.job_id = t.job_id AND j.version = $3 RETURNING t.task_id, t.job_id, t.state"};
const Statement kListModules{
    "ota_list_modules",
    "SELECT module, version, iot_ms(updated_at) FROM device_modules WHERE device_id = $1 ORDER BY module"};
const Statement kProgressTask{
    "ota_progress_task",
    "UPDATE ota_tasks t SET step = $3, description = $4, updated_at = iot_ts($5), state = CASE "
    "WHEN $3 > 0 THEN 'downloading' WHEN t.attempts <= j.retries THEN 'queued' ELSE 'failed' END "
    "FROM ota_jobs j WHERE t.device_id = $1 AND t.module = $2 AND t.state IN ('pushed', 'downloading') "
    "AND j.job_id = t.job_id RETURNING t.task_id, t.job_id, t.state"};
const Statement kPending{"ota_pending",
                         "SELECT " IOT_FIRMWARE_COLUMNS
                         ", t.job_id, t.task_id FROM ota_tasks t JOIN ota_jobs j ON j.job_id = t.job_id "
                         "JOIN firmwares f ON f.firmware_id = j.firmware_id WHERE t.device_id = $1 "
                         "AND t.module = $2 AND t.state IN ('pushed', 'downloading')"};

// Jobs.
#define IOT_JOB_COLUMNS                                                                                 \
  "job_id, coalesce(firmware_id, ''), product_key, module, version, target, "                           \
  "array_to_json(device_names)::text, tag_key, tag_value, dynamic, max_concurrent, pushes_per_minute, " \
  "retries, timeout_s, state, iot_ms(created_at), created_by, iot_ms(finished_at)"

const Statement kJobFirmware{"ota_job_firmware",
                             "SELECT module, version, array_to_json(src_versions)::text FROM firmwares "
                             "WHERE firmware_id = $1 AND product_key = $2 FOR SHARE"};
const Statement kInsertJob{
    "ota_insert_job",
    "INSERT INTO ota_jobs (job_id, firmware_id, product_key, module, version, target, device_names, tag_key, "
    "tag_value, dynamic, max_concurrent, pushes_per_minute, retries, timeout_s, created_by) "
    "SELECT $1, $2, $3, $4, $5, $6, ARRAY(SELECT jsonb_array_elements_text($7::jsonb)), $8, $9, $10, $11, "
    "$12, $13, $14, $15 RETURNING " IOT_JOB_COLUMNS};
// The target's devices whose module version is a source version of the firmware (any when it names
// none), skipping devices that are upgrading the module in another job.
const Statement kInsertTasks{
    "ota_insert_tasks",
    "INSERT INTO ota_tasks (job_id, device_id, module, src_version) "
    "SELECT j.job_id, d.id, j.module, coalesce(m.version, '') FROM ota_jobs j "
    "JOIN devices d ON d.product_key = j.product_key "
    "LEFT JOIN device_modules m ON m.device_id = d.id AND m.module = j.module "
    "WHERE j.job_id = $1 AND (j.target = 'all' OR (j.target = 'list' AND d.device_name = "
    "ANY(j.device_names)) "
    "OR (j.target = 'tag' AND d.tags ->> j.tag_key = j.tag_value)) "
    "AND (jsonb_array_length($2::jsonb) = 0 OR m.version IN (SELECT jsonb_array_elements_text($2::jsonb))) "
    "ORDER BY d.id ON CONFLICT DO NOTHING"};
const Statement kGetJob{"ota_get_job",
                        "SELECT " IOT_JOB_COLUMNS " FROM ota_jobs WHERE job_id = $1 AND product_key = $2"};
const Statement kFirmwareJobs{"ota_firmware_jobs",
                              "SELECT " IOT_JOB_COLUMNS
                              " FROM ota_jobs WHERE firmware_id = $1 AND product_key = $2 "
                              "ORDER BY created_at DESC, job_id LIMIT $3"};
const Statement kJobCounts{"ota_job_counts",
                           "SELECT state, count(*) FROM ota_tasks WHERE job_id = $1 GROUP BY state"};
const Statement kListTasks{
    "ota_list_tasks",
    "SELECT t.task_id, d.device_name, t.state, t.step, t.description, t.attempts, t.src_version, "
    "iot_ms(t.updated_at), t.downloads FROM ota_tasks t JOIN devices d ON d.id = t.device_id "
    "WHERE t.job_id = $1 AND t.task_id > $2 ORDER BY t.task_id LIMIT $3"};
const Statement kDeviceTasks{
    "ota_device_tasks",
    "SELECT t.task_id, d.device_name, t.state, t.step, t.description, t.attempts, t.src_version, "
    "iot_ms(t.updated_at), t.job_id, j.module, j.version, t.downloads FROM ota_tasks t "
    "JOIN devices d ON d.id = t.device_id JOIN ota_jobs j ON j.job_id = t.job_id "
    "WHERE t.device_id = $1 ORDER BY t.task_id DESC LIMIT $2"};

// The driver.
const Statement kLockRunningJob{
    "ota_lock_running_job",
    "SELECT firmware_id, max_concurrent, pushes_per_minute, retries, timeout_s, dynamic FROM ota_jobs "
    "WHERE job_id = $1 AND state = 'running' AND firmware_id IS NOT NULL FOR UPDATE"};
const Statement kTimeOut{"ota_time_out",
                         "UPDATE ota_tasks SET updated_at = iot_now_ms(), "
                         "state = CASE WHEN attempts <= $2 THEN 'queued' ELSE 'timed_out' END, "
                         "description = CASE WHEN attempts <= $2 THEN description "
                         "ELSE 'no success within ' || $3::int::text || ' s of the push' END "
                         "WHERE job_id = $1 AND state IN ('pushed', 'downloading') "
                         "AND pushed_at < iot_now_ms() - make_interval(secs => $3::int) RETURNING 1"};
const Statement kRoom{"ota_room",
                      "SELECT count(*) FILTER (WHERE state IN ('pushed', 'downloading')), "
                      "count(*) FILTER (WHERE pushed_at > iot_now_ms() - interval '1 minute') "
                      "FROM ota_tasks WHERE job_id = $1"};
const Statement kPush{
    "ota_push",
    "UPDATE ota_tasks t SET state = 'pushed', attempts = t.attempts + 1, pushed_at = iot_now_ms(), "
    "updated_at = iot_now_ms(), step = NULL, description = '' FROM devices d "
    "WHERE d.id = t.device_id AND t.task_id IN (SELECT q.task_id FROM ota_tasks q "
    "JOIN devices o ON o.id = q.device_id WHERE q.job_id = $1 AND q.state = 'queued' "
    "AND o.status = 'online' AND o.enabled ORDER BY q.task_id LIMIT $2 FOR UPDATE OF q SKIP LOCKED) "
    "RETURNING t.task_id, d.product_key, d.device_name, t.attempts"};
const Statement kFinish{
    "ota_finish",
    "UPDATE ota_jobs SET state = 'completed', finished_at = iot_now_ms() WHERE job_id = $1 "
    "AND NOT EXISTS (SELECT 1 FROM ota_tasks WHERE job_id = $1 "
    "AND state IN ('queued', 'pushed', 'downloading')) RETURNING 1"};
const Statement kRunningJobs{
    "ota_running_jobs", "SELECT job_id FROM ota_jobs WHERE state = 'running' ORDER BY created_at, job_id"};
const Statement kCancelJob{"ota_cancel_job",
                           "UPDATE ota_jobs SET state = 'cancelled', finished_at = iot_now_ms() "
                           "WHERE job_id = $1 AND product_key = $2 AND state = 'running' RETURNING 1"};
const Statement kCancelTasks{"ota_cancel_tasks",
                             "UPDATE ota_tasks SET state = 'cancelled', updated_at = iot_now_ms() "
                             "WHERE job_id = $1 AND state IN ('queued', 'pushed', 'downloading')"};
const Statement kAcquireLease{
    "ota_acquire_lease",
    "INSERT INTO leases (name, holder, expires_at) "
    "VALUES ($1, $2, iot_now_ms() + make_interval(secs => $3::bigint / 1000.0)) "
    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
    "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < iot_now_ms() RETURNING holder"};
const Statement kReleaseLease{"ota_release_lease", "DELETE FROM leases WHERE name = $1 AND holder = $2"};

std::vector<std::string> StringList(const std::string& json_text) {
  std::vector<std::string> out;
  Json parsed = Json::parse(json_text, nullptr, false);
  if (parsed.is_array()) {
    for (const Json& v : parsed) {
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      }
    }
  }
  return out;
}

std::string JsonList(const std::vector<std::string>& items) { return Json(items).dump(); }

FirmwareInfo ReadFirmware(const pqxx::row& r) {
  FirmwareInfo f;
  f.firmware_id = r[0].as<std::string>();
  f.product_key = r[1].as<std::string>();
  f.module = r[2].as<std::string>();
  f.version = r[3].as<std::string>();
  f.src_versions = StringList(r[4].as<std::string>());
  f.is_diff = r[5].as<bool>();
  f.ext_data_json = Opt<std::string>(r[6]);
  f.size = r[7].as<std::int64_t>();
  f.md5 = r[8].as<std::string>();
  f.sha256 = r[9].as<std::string>();
  f.downloads = r[10].as<std::int64_t>();
  f.created_at = r[11].as<TimeMs>();
  f.created_by = r[12].as<std::string>();
  return f;
}

OtaTarget ParseTarget(const std::string& text) {
  if (text == "list") {
    return OtaTarget::kList;
  }
  return text == "tag" ? OtaTarget::kTag : OtaTarget::kAll;
}

const char* TargetText(OtaTarget target) {
  switch (target) {
    case OtaTarget::kList: return "list";
    case OtaTarget::kTag: return "tag";
    case OtaTarget::kAll: break;
  }
  return "all";
}

OtaJob ReadJob(const pqxx::row& r) {
  OtaJob j;
  j.job_id = r[0].as<std::string>();
  j.firmware_id = r[1].as<std::string>();
  j.product_key = r[2].as<std::string>();
  j.module = r[3].as<std::string>();
  j.version = r[4].as<std::string>();
  j.target = ParseTarget(r[5].as<std::string>());
  j.device_names = StringList(r[6].as<std::string>());
  j.tag_key = r[7].as<std::string>();
  j.tag_value = r[8].as<std::string>();
  j.dynamic = r[9].as<bool>();
  j.max_concurrent = r[10].as<int>();
  j.pushes_per_minute = r[11].as<int>();
  j.retries = r[12].as<int>();
  j.timeout_s = r[13].as<int>();
  j.state = r[14].as<std::string>();
  j.created_at = r[15].as<TimeMs>();
  j.created_by = r[16].as<std::string>();
  j.finished_at = Opt<TimeMs>(r[17]);
  return j;
}

void ReadCounts(pqxx::transaction_base& tx, OtaJob& job) {
  job.counts.clear();
  for (std::string_view state : kOtaTaskStates) {
    job.counts.emplace_back(std::string(state), 0);
  }
  for (const auto& row : Exec(tx, kJobCounts, job.job_id)) {
    const auto state = row[0].as<std::string>();
    for (auto& [name, count] : job.counts) {
      if (name == state) {
        count = row[1].as<std::int64_t>();
      }
    }
  }
}

// `downloads`: the column of t.downloads.
OtaTaskRow ReadTask(const pqxx::row& r, int downloads) {
  OtaTaskRow t;
  t.downloads = r[downloads].as<std::int64_t>();
  t.task_id = r[0].as<std::int64_t>();
  t.device_name = r[1].as<std::string>();
  t.state = r[2].as<std::string>();
  t.step = Opt<int>(r[3]);
  t.desc = r[4].as<std::string>();
  t.attempts = r[5].as<int>();
  t.src_version = r[6].as<std::string>();
  t.updated_at = r[7].as<TimeMs>();
  return t;
}

std::optional<OtaTaskChange> ReadChange(const pqxx::result& r) {
  if (r.empty()) {
    return std::nullopt;
  }
  return OtaTaskChange{r[0][0].as<std::int64_t>(), r[0][1].as<std::string>(), r[0][2].as<std::string>()};
}

bool ValidName(std::string_view text, std::size_t max_chars) {
  return !text.empty() && text.size() <= max_chars;
}

// A JSON object's text, or nullopt for anything else (ext data must be an object).
bool ValidExtData(const std::optional<std::string>& text) {
  if (!text) {
    return true;
  }
  Json parsed = Json::parse(*text, nullptr, false);
  return parsed.is_object();
}

}  // namespace

Result<FirmwareInfo> CreateFirmware(Db& db, const FirmwareCreate& create, std::int64_t max_bytes,
                                    const ChunkSource& source) {
  if (!ValidName(create.module, kMaxModuleChars) || !ValidName(create.version, kMaxVersionChars) ||
      !ValidExtData(create.ext_data_json) || max_bytes < 0) {
    return make_error_code(Errc::kInvalid);
  }
  for (const std::string& v : create.src_versions) {
    if (!ValidName(v, kMaxVersionChars)) {
      return make_error_code(Errc::kInvalid);
    }
  }
  const std::string firmware_id = RandomHex(16);
  return Run(db, [&](pqxx::connection& c) -> Result<FirmwareInfo> {
    pqxx::work tx(c);
    if (Exec(tx, kProductExists, create.product_key).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    // Refused before any byte is read (the unique key refuses a concurrent upload at the insert).
    if (!Exec(tx, kFirmwareExists, create.product_key, create.module, create.version).empty()) {
      return make_error_code(Errc::kConflict);
    }
    pqxx::largeobjectaccess object(tx, std::ios::out);
    PackageDigest digest;
    std::int64_t size = 0;
    std::string buffer(kUploadChunk, '\0');
    while (true) {
      auto n = source(buffer.data(), buffer.size());
      if (!n) {
        return n.error();  // the transaction rolls back: the large object goes with it
      }
      if (*n == 0) {
        break;
      }
      size += static_cast<std::int64_t>(*n);
      if (size > max_bytes) {
        return make_error_code(Errc::kInvalid);
      }
      digest.Update(std::string_view(buffer.data(), *n));
      object.write(buffer.data(), static_cast<pqxx::largeobjectaccess::size_type>(*n));
    }
    const auto oid = static_cast<std::int64_t>(object.id());
    auto r = Exec(tx, kInsertFirmware, firmware_id, create.product_key, create.module, create.version,
                  JsonList(create.src_versions), create.is_diff, create.ext_data_json, size, digest.Md5Hex(),
                  digest.Sha256Hex(), oid, create.created_by);
    FirmwareInfo info = ReadFirmware(r[0]);
    tx.commit();
    return info;
  });
}

Result<FirmwareInfo> GetFirmwareById(Db& db, std::string_view firmware_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<FirmwareInfo> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetFirmware, S(firmware_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return ReadFirmware(r[0]);
  });
}

Result<FirmwareInfo> GetFirmware(Db& db, std::string_view product_key, std::string_view firmware_id) {
  auto f = GetFirmwareById(db, firmware_id);
  if (f && f->product_key != product_key) {
    return make_error_code(Errc::kNotFound);
  }
  return f;
}

Result<std::vector<FirmwareInfo>> ListFirmwares(Db& db, std::string_view product_key) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<FirmwareInfo>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kProductExists, S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<FirmwareInfo> out;
    for (const auto& row : Exec(tx, kListFirmwares, S(product_key), kMaxPageLimit)) {
      out.push_back(ReadFirmware(row));
    }
    return out;
  });
}

Result<void> DeleteFirmware(Db& db, std::string_view product_key, std::string_view firmware_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    if (Exec(tx, kLockFirmware, S(firmware_id), S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    if (!Exec(tx, kFirmwareBusy, S(firmware_id)).empty()) {
      return make_error_code(Errc::kConflict);
    }
    Exec(tx, kDeleteFirmware, S(firmware_id));
    tx.commit();
    return {};
  });
}

Result<std::string> ReadFirmwareRange(Db& db, std::string_view firmware_id, std::int64_t offset,
                                      std::size_t length) {
  if (offset < 0) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<std::string> {
    pqxx::work tx(c);  // large objects are read inside a transaction
    auto r = Exec(tx, kFirmwareOid, S(firmware_id));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    pqxx::largeobjectaccess object(tx, static_cast<pqxx::oid>(r[0][0].as<std::int64_t>()), std::ios::in);
    object.seek(static_cast<pqxx::largeobjectaccess::size_type>(offset), std::ios::beg);
    std::string out(length, '\0');
    std::size_t filled = 0;
    while (filled < length) {
      const auto n =
          object.read(out.data() + filled, static_cast<pqxx::largeobjectaccess::size_type>(length - filled));
      if (n <= 0) {
        break;
      }
      filled += static_cast<std::size_t>(n);
    }
    out.resize(filled);
    tx.commit();
    return out;
  });
}

Result<void> CountFirmwareDownload(Db& db, std::string_view firmware_id, std::int64_t task_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    if (Exec(tx, kCountDownload, S(firmware_id)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    if (task_id > 0) {
      Exec(tx, kCountTaskDownload, task_id, S(firmware_id));
    }
    tx.commit();
    return {};
  });
}

Result<std::optional<OtaTaskChange>> InformDeviceModule(Db& db, std::int64_t device_id,
                                                        std::string_view module, std::string_view version,
                                                        TimeMs at) {
  if (!ValidName(module, kMaxModuleChars) || !ValidName(version, kMaxVersionChars)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<std::optional<OtaTaskChange>> {
    pqxx::work tx(c);
    if (Exec(tx, kUpsertModule, device_id, S(module), S(version), at).empty()) {
      return make_error_code(Errc::kNotFound);  // the device was deleted
    }
    auto change = ReadChange(Exec(tx, kInformTask, device_id, S(module), S(version), at));
    tx.commit();
    return change;
  });
}

Result<std::vector<DeviceModule>> ListDeviceModules(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<DeviceModule>> {
    pqxx::read_transaction tx(c);
    std::vector<DeviceModule> out;
    for (const auto& row : Exec(tx, kListModules, device_id)) {
      out.push_back(DeviceModule{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<TimeMs>()});
    }
    return out;
  });
}

Result<std::optional<OtaTaskChange>> ApplyOtaProgress(Db& db, std::int64_t device_id, std::string_view module,
                                                      int step, std::string_view desc, TimeMs at) {
  if (!((step >= 1 && step <= 100) || (step >= -4 && step <= -1))) {
    return make_error_code(Errc::kInvalid);
  }
  std::size_t keep = std::min(desc.size(), kMaxOtaDescBytes);
  while (keep < desc.size() && keep > 0 && (static_cast<unsigned char>(desc[keep]) & 0xC0) == 0x80) {
    --keep;  // never cut a UTF-8 sequence
  }
  const std::string kept(desc.substr(0, keep));
  return Run(db, [&](pqxx::connection& c) -> Result<std::optional<OtaTaskChange>> {
    pqxx::work tx(c);
    auto change = ReadChange(Exec(tx, kProgressTask, device_id, S(module), step, kept, at));
    tx.commit();
    return change;
  });
}

Result<std::optional<PendingUpgrade>> FindPendingUpgrade(Db& db, std::int64_t device_id,
                                                         std::string_view module) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::optional<PendingUpgrade>> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kPending, device_id, S(module));
    if (r.empty()) {
      return std::optional<PendingUpgrade>();
    }
    PendingUpgrade p;
    p.firmware = ReadFirmware(r[0]);
    p.job_id = r[0][kFirmwareColumnCount].as<std::string>();
    p.task_id = r[0][kFirmwareColumnCount + 1].as<std::int64_t>();
    return std::optional<PendingUpgrade>(std::move(p));
  });
}

Result<OtaJob> CreateOtaJob(Db& db, const OtaJobCreate& create) {
  if (create.max_concurrent < 1 || create.max_concurrent > 100000 || create.pushes_per_minute < 0 ||
      create.retries < 0 || create.retries > 100 || create.timeout_s < 1 ||
      create.device_names.size() > kMaxJobDeviceNames ||
      (create.target == OtaTarget::kList && create.device_names.empty()) ||
      (create.target == OtaTarget::kTag && create.tag_key.empty())) {
    return make_error_code(Errc::kInvalid);
  }
  const std::string job_id = RandomHex(16);
  return Run(db, [&](pqxx::connection& c) -> Result<OtaJob> {
    pqxx::work tx(c);
    auto f = Exec(tx, kJobFirmware, create.firmware_id, create.product_key);
    if (f.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    const auto module = f[0][0].as<std::string>();
    const auto version = f[0][1].as<std::string>();
    const auto src_versions = f[0][2].as<std::string>();
    auto r = Exec(tx, kInsertJob, job_id, create.firmware_id, create.product_key, module, version,
                  std::string(TargetText(create.target)), JsonList(create.device_names), create.tag_key,
                  create.tag_value, create.dynamic, create.max_concurrent, create.pushes_per_minute,
                  create.retries, create.timeout_s, create.created_by);
    OtaJob job = ReadJob(r[0]);
    Exec(tx, kInsertTasks, job_id, src_versions);
    ReadCounts(tx, job);
    tx.commit();
    return job;
  });
}

Result<OtaJob> GetOtaJob(Db& db, std::string_view product_key, std::string_view job_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<OtaJob> {
    pqxx::read_transaction tx(c);
    auto r = Exec(tx, kGetJob, S(job_id), S(product_key));
    if (r.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    OtaJob job = ReadJob(r[0]);
    ReadCounts(tx, job);
    return job;
  });
}

Result<std::vector<OtaJob>> ListFirmwareJobs(Db& db, std::string_view product_key,
                                             std::string_view firmware_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<OtaJob>> {
    pqxx::read_transaction tx(c);
    auto firmware = Exec(tx, kGetFirmware, S(firmware_id));
    if (firmware.empty() || firmware[0][1].as<std::string>() != product_key) {
      return make_error_code(Errc::kNotFound);
    }
    std::vector<OtaJob> out;
    for (const auto& row : Exec(tx, kFirmwareJobs, S(firmware_id), S(product_key), kMaxFirmwareJobs)) {
      out.push_back(ReadJob(row));
      ReadCounts(tx, out.back());
    }
    return out;
  });
}

Result<Page<OtaTaskRow>> ListOtaTasks(Db& db, std::string_view product_key, std::string_view job_id,
                                      const PageQuery& page) {
  std::int64_t after = 0;
  if (!ValidLimit(page.limit) || (!page.cursor.empty() && !ParseIdCursor(page.cursor, after))) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<Page<OtaTaskRow>> {
    pqxx::read_transaction tx(c);
    if (Exec(tx, kGetJob, S(job_id), S(product_key)).empty()) {
      return make_error_code(Errc::kNotFound);
    }
    Page<OtaTaskRow> out;
    for (const auto& row : Exec(tx, kListTasks, S(job_id), after, page.limit + 1)) {
      out.items.push_back(ReadTask(row, 8));
    }
    if (out.items.size() > static_cast<std::size_t>(page.limit)) {
      out.items.pop_back();
      out.next_cursor = std::to_string(out.items.back().task_id);
    }
    return out;
  });
}

Result<std::vector<DeviceOtaTask>> ListDeviceOtaTasks(Db& db, std::int64_t device_id, int limit) {
  if (!ValidLimit(limit)) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<DeviceOtaTask>> {
    pqxx::read_transaction tx(c);
    std::vector<DeviceOtaTask> out;
    for (const auto& row : Exec(tx, kDeviceTasks, device_id, limit)) {
      out.push_back(DeviceOtaTask{ReadTask(row, 11), row[8].as<std::string>(), row[9].as<std::string>(),
                                  row[10].as<std::string>()});
    }
    return out;
  });
}

Result<OtaJob> CancelOtaJob(Db& db, std::string_view product_key, std::string_view job_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<OtaJob> {
    pqxx::work tx(c);
    if (Exec(tx, kCancelJob, S(job_id), S(product_key)).empty()) {
      return make_error_code(Exec(tx, kGetJob, S(job_id), S(product_key)).empty() ? Errc::kNotFound
                                                                                  : Errc::kConflict);
    }
    Exec(tx, kCancelTasks, S(job_id));
    OtaJob job = ReadJob(Exec(tx, kGetJob, S(job_id), S(product_key))[0]);
    ReadCounts(tx, job);
    tx.commit();
    return job;
  });
}

Result<LeaseState> AcquireLease(Db& db, std::string_view name, std::string_view holder, std::int64_t ttl_ms) {
  if (ttl_ms < 1) {
    return make_error_code(Errc::kInvalid);
  }
  return Run(db, [&](pqxx::connection& c) -> Result<LeaseState> {
    pqxx::work tx(c);
    const bool held = !Exec(tx, kAcquireLease, S(name), S(holder), ttl_ms).empty();
    tx.commit();
    return held ? LeaseState::kHeld : LeaseState::kHeldByAnother;
  });
}

Result<void> ReleaseLease(Db& db, std::string_view name, std::string_view holder) {
  return Run(db, [&](pqxx::connection& c) -> Result<void> {
    pqxx::work tx(c);
    Exec(tx, kReleaseLease, S(name), S(holder));
    tx.commit();
    return {};
  });
}

Result<std::vector<std::string>> ListRunningOtaJobs(Db& db) {
  return Run(db, [&](pqxx::connection& c) -> Result<std::vector<std::string>> {
    pqxx::read_transaction tx(c);
    std::vector<std::string> out;
    for (const auto& row : Exec(tx, kRunningJobs)) {
      out.push_back(row[0].as<std::string>());
    }
    return out;
  });
}

Result<OtaJobStep> StepOtaJob(Db& db, std::string_view job_id, int max_pushes) {
  return Run(db, [&](pqxx::connection& c) -> Result<OtaJobStep> {
    pqxx::work tx(c);
    auto job = Exec(tx, kLockRunningJob, S(job_id));
    if (job.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    const auto firmware_id = job[0][0].as<std::string>();
    const int max_concurrent = job[0][1].as<int>();
    const int per_minute = job[0][2].as<int>();
    const int retries = job[0][3].as<int>();
    const int timeout_s = job[0][4].as<int>();
    const bool dynamic = job[0][5].as<bool>();
    OtaJobStep step;
    step.firmware = ReadFirmware(Exec(tx, kGetFirmware, firmware_id)[0]);
    step.timed_out = static_cast<int>(Exec(tx, kTimeOut, S(job_id), retries, timeout_s).size());
    if (dynamic) {
      Exec(tx, kInsertTasks, S(job_id), JsonList(step.firmware.src_versions));
    }
    auto room = Exec(tx, kRoom, S(job_id));
    std::int64_t slots = max_concurrent - room[0][0].as<std::int64_t>();
    if (per_minute > 0) {
      slots = std::min(slots, per_minute - room[0][1].as<std::int64_t>());
    }
    slots = std::min<std::int64_t>(slots, max_pushes);
    if (slots > 0) {
      for (const auto& row : Exec(tx, kPush, S(job_id), slots)) {
        step.pushes.push_back(OtaPush{row[0].as<std::int64_t>(), row[1].as<std::string>(),
                                      row[2].as<std::string>(), row[3].as<int>()});
      }
    }
    if (!dynamic) {
      step.finished = !Exec(tx, kFinish, S(job_id)).empty();
    }
    tx.commit();
    return step;
  });
}

}  // namespace iot::store

#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iot/common/result.hpp"
#include "iot/store/db.hpp"
#include "iot/store/types.hpp"

// Over-the-air upgrades: firmware packages (metadata in a row, bytes in a PostgreSQL large object),
// the module versions devices inform, upgrade jobs and their per-device tasks.
namespace iot::store {

// The module a device names when it names none (Alink: `module` absent = the default module).
inline constexpr std::string_view kDefaultModule = "default";
inline constexpr std::size_t kMaxModuleChars = 64;
inline constexpr std::size_t kMaxVersionChars = 64;
inline constexpr std::size_t kMaxOtaDescBytes = 1024;

struct FirmwareCreate {
  std::string product_key;
  std::string module = std::string(kDefaultModule);
  std::string version;
  std::vector<std::string> src_versions;  // empty = upgrades any version
  bool is_diff = false;
  std::optional<std::string> ext_data_json;  // a JSON object, handed to devices as extData
  std::string created_by;
};

struct FirmwareInfo {
  std::string firmware_id;  // 32 lower-case hex characters
  std::string product_key;
  std::string module;
  std::string version;
  std::vector<std::string> src_versions;
  bool is_diff = false;
  std::optional<std::string> ext_data_json;
  std::int64_t size = 0;
  std::string md5;     // lower-case hex
  std::string sha256;  // lower-case hex
  std::int64_t downloads = 0;
  TimeMs created_at = 0;
  std::string created_by;
};

// Hands the next bytes of a package: fills at most `capacity` bytes of `buffer` and returns how many,
// 0 at the end; an error aborts the upload (nothing is stored) and is returned as is.
using ChunkSource = std::function<Result<std::size_t>(char* buffer, std::size_t capacity)>;

// Stores a package read from `source` chunk by chunk into a new large object, computing its size, MD5
// and SHA-256 on the way, in one transaction. kNotFound without the product, kConflict when the
// product already has this module's version, kInvalid for a bad module, version or ext data, or when
// the package exceeds `max_bytes` (nothing stored).
Result<FirmwareInfo> CreateFirmware(Db& db, const FirmwareCreate& create, std::int64_t max_bytes,
                                    const ChunkSource& source);
// kNotFound (also when the firmware belongs to another product).
Result<FirmwareInfo> GetFirmware(Db& db, std::string_view product_key, std::string_view firmware_id);
// Any firmware by its id (download links). kNotFound.
Result<FirmwareInfo> GetFirmwareById(Db& db, std::string_view firmware_id);
// The product's firmwares, newest first (at most kMaxPageLimit). kNotFound without the product.
Result<std::vector<FirmwareInfo>> ListFirmwares(Db& db, std::string_view product_key);
// Deletes the firmware and its bytes. kNotFound; kConflict while a running job uses it (finished jobs
// keep their history without it).
Result<void> DeleteFirmware(Db& db, std::string_view product_key, std::string_view firmware_id);
// At most `length` bytes of the package from `offset` (fewer at its end; empty past it). kNotFound.
Result<std::string> ReadFirmwareRange(Db& db, std::string_view firmware_id, std::int64_t offset,
                                      std::size_t length);
// Counts one download of the firmware, and of the task `task_id` (> 0) when it is a task of a job of
// that firmware. kNotFound for an unknown firmware.
Result<void> CountFirmwareDownload(Db& db, std::string_view firmware_id, std::int64_t task_id = 0);

// ---------------------------------------------------------------------------------------------------
// Device side

struct DeviceModule {
  std::string module;
  std::string version;
  TimeMs updated_at = 0;
};

// What an OTA message changed in a task (for logs and, later, forwarded /ota/upgrade messages).
struct OtaTaskChange {
  std::int64_t task_id = 0;
  std::string job_id;
  std::string state;  // the task's new state
};

// Records the version a device informs for `module` and completes its active task for that module when
// the version is the task's target (succeeded, step 100). kNotFound when the device is gone; kInvalid
// for an empty or over-long module or version.
Result<std::optional<OtaTaskChange>> InformDeviceModule(Db& db, std::int64_t device_id,
                                                        std::string_view module, std::string_view version,
                                                        TimeMs at);
// Module versions of a device, by module name.
Result<std::vector<DeviceModule>> ListDeviceModules(Db& db, std::int64_t device_id);

// A progress report (step 1..100, or -1..-4 with the device's desc) for the device's pushed or
// downloading task of `module`: 1..100 makes it downloading; a failure step queues it again while the
// job allows retries (attempts <= retries), else fails it. nullopt when the device has no such task.
// kInvalid for a step outside 1..100 and -1..-4.
Result<std::optional<OtaTaskChange>> ApplyOtaProgress(Db& db, std::int64_t device_id, std::string_view module,
                                                      int step, std::string_view desc, TimeMs at);

// The package a device should be upgrading `module` to (its task pushed or downloading).
struct PendingUpgrade {
  FirmwareInfo firmware;
  std::string job_id;
  std::int64_t task_id = 0;
};
Result<std::optional<PendingUpgrade>> FindPendingUpgrade(Db& db, std::int64_t device_id,
                                                         std::string_view module);

// ---------------------------------------------------------------------------------------------------
// Jobs

enum class OtaTarget { kAll, kList, kTag };

struct OtaJobCreate {
  std::string product_key;
  std::string firmware_id;
  OtaTarget target = OtaTarget::kAll;
  std::vector<std::string> device_names;  // kList
  std::string tag_key;                    // kTag
  std::string tag_value;
  bool dynamic = false;
  int max_concurrent = 10;
  int pushes_per_minute = 0;  // 0 = no limit
  int retries = 0;
  int timeout_s = 3600;
  std::string created_by;
};

inline constexpr std::size_t kMaxJobDeviceNames = 10000;

struct OtaJob {
  std::string job_id;
  std::string firmware_id;  // empty once the firmware is deleted (finished jobs only)
  std::string product_key;
  std::string module;
  std::string version;
  OtaTarget target = OtaTarget::kAll;
  std::vector<std::string> device_names;
  std::string tag_key;
  std::string tag_value;
  bool dynamic = false;
  int max_concurrent = 0;
  int pushes_per_minute = 0;
  int retries = 0;
  int timeout_s = 0;
  std::string state;  // running, completed, cancelled
  TimeMs created_at = 0;
  std::string created_by;
  std::optional<TimeMs> finished_at;
  // Tasks per state (every state present, 0 when none).
  std::vector<std::pair<std::string, std::int64_t>> counts;
};

// The task states, in the order of OtaJob::counts.
inline constexpr std::string_view kOtaTaskStates[] = {"queued", "pushed",    "downloading", "succeeded",
                                                      "failed", "timed_out", "cancelled"};

// Creates the job and a queued task for each device of the target that has no active task for the
// firmware's module and whose module version is one of the firmware's source versions (when it names
// any). kNotFound without the firmware in that product; kInvalid for out-of-range settings.
Result<OtaJob> CreateOtaJob(Db& db, const OtaJobCreate& create);
// The jobs of a firmware, newest first, with their counts (at most 100). kNotFound without
// the firmware (a deleted firmware's jobs are found by their ids only).
Result<std::vector<OtaJob>> ListFirmwareJobs(Db& db, std::string_view product_key,
                                             std::string_view firmware_id);
// kNotFound (also for a job of another product).
Result<OtaJob> GetOtaJob(Db& db, std::string_view product_key, std::string_view job_id);

struct OtaTaskRow {
  std::int64_t task_id = 0;
  std::string device_name;
  std::string state;
  std::optional<int> step;
  std::string desc;
  int attempts = 0;
  std::string src_version;
  TimeMs updated_at = 0;
  std::int64_t downloads = 0;  // downloads of its link that started at byte 0 (migration 018)
};
// The job's tasks by task id. kNotFound for an unknown job.
Result<Page<OtaTaskRow>> ListOtaTasks(Db& db, std::string_view product_key, std::string_view job_id,
                                      const PageQuery& page);
// The device's tasks (every job), newest first: its OTA history.
struct DeviceOtaTask {
  OtaTaskRow task;
  std::string job_id;
  std::string module;
  std::string version;  // the job's target version
};
Result<std::vector<DeviceOtaTask>> ListDeviceOtaTasks(Db& db, std::int64_t device_id, int limit);

// Cancels a running job: its queued, pushed and downloading tasks become cancelled. kNotFound;
// kConflict when the job is no longer running.
Result<OtaJob> CancelOtaJob(Db& db, std::string_view product_key, std::string_view job_id);

// ---------------------------------------------------------------------------------------------------
// The job driver (one iot-api instance at a time, by lease)

// Takes or renews the lease `name` for `holder` until now + ttl_ms (the database's clock): kHeld when
// `holder` holds it afterwards (it was free, expired, or already its own).
enum class LeaseState { kHeld, kHeldByAnother };
Result<LeaseState> AcquireLease(Db& db, std::string_view name, std::string_view holder, std::int64_t ttl_ms);
// Gives the lease up when `holder` holds it (a clean stop: the next instance need not wait).
Result<void> ReleaseLease(Db& db, std::string_view name, std::string_view holder);
inline constexpr std::string_view kOtaLeaseName = "ota-jobs";

// Ids of the running jobs, oldest first.
Result<std::vector<std::string>> ListRunningOtaJobs(Db& db);

// One push the driver is to publish: its task committed as pushed before this is returned.
struct OtaPush {
  std::int64_t task_id = 0;
  std::string product_key;
  std::string device_name;
  int attempt = 0;
};

struct OtaJobStep {
  FirmwareInfo firmware;
  std::vector<OtaPush> pushes;
  int timed_out = 0;      // tasks past timeout_s since their push: queued again (retries left) or timed_out
  bool finished = false;  // the job completed in this step
};

// One step of a running job, in one transaction under the job's row lock: tasks pushed more than
// timeout_s ago are queued again while retries are left (attempts <= retries), else timed_out; a
// dynamic job takes in the target's new devices; queued tasks of online devices become pushed (one
// attempt more), as many as max_concurrent leaves room for and pushes_per_minute allows over the
// last minute (at most `max_pushes`); a static job with no queued, pushed or downloading task left is
// completed. kNotFound when the job is not running (cancelled or finished meanwhile).
Result<OtaJobStep> StepOtaJob(Db& db, std::string_view job_id, int max_pushes);

}  // namespace iot::store

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/common/result.hpp"

// OTA (reference §2.16). Devices inform their version per module on /ota/device/inform/{pk}/{dn}
// (`{"id","params":{"version","module"?}}`) and report progress on /ota/device/progress/{pk}/{dn}
// (`{"id","params":{"step","desc","module"?}}`, step "1".."100" or "-1".."-4"); the platform pushes a
// package on /ota/device/upgrade/{pk}/{dn} as `{"code":"1000","data":{...},"id","message":"success"}`
// and answers thing.ota.firmware.get with the same data, or `{}` when nothing is pending.
namespace iot::alink {

// The module a device means when it names none.
inline constexpr std::string_view kOtaDefaultModule = "default";
// `code` of an upgrade push: the string "1000".
inline constexpr std::string_view kOtaPushCode = "1000";
// thing.ota.firmware.get from a device the platform does not know.
inline constexpr int kOtaDeviceNotFoundCode = 9112;
// Progress steps: 1..100 percent, or a failure.
inline constexpr int kOtaUpgradeFailed = -1;
inline constexpr int kOtaDownloadFailed = -2;
inline constexpr int kOtaVerifyFailed = -3;
inline constexpr int kOtaFlashFailed = -4;
inline constexpr std::size_t kMaxOtaModuleChars = 64;
inline constexpr std::size_t kMaxOtaVersionChars = 64;
// How long a firmware link handed to a device stays valid (a resumed download reuses it).
inline constexpr std::int64_t kFirmwareUrlTtlS = 86400;

struct OtaPackage {
  std::int64_t size = 0;
  std::string version;
  bool is_diff = false;
  std::string url;
  std::string md5;                     // lower-case hex
  std::string sign;                    // lower-case hex digest named by sign_method
  std::string sign_method = "SHA256";  // "SHA256" or "Md5"
  std::string module = std::string(kOtaDefaultModule);
  nlohmann::json ext_data = nlohmann::json::object();
};

// iot-api's route serving a firmware package: "/api/v1/files/firmware/<firmwareId>".
std::string FirmwareFilePath(std::string_view firmware_id);
// The signed link to that route (iot::SignedUrl), valid until now_s + kFirmwareUrlTtlS. With a task id
// (> 0) the link carries `task=<id>` before `expires`, signed with it (FirmwareSignedResource), so the
// downloads of that device's upgrade are counted on its task.
std::string FirmwareFileUrl(std::string_view base_url, std::string_view key, std::string_view firmware_id,
                            std::int64_t now_s, std::int64_t task_id = 0);
// What a firmware link's signature covers: the path, and "?task=<task>" when the link names a task.
std::string FirmwareSignedResource(std::string_view firmware_id, std::string_view task);

// `{"size","version","isDiff":0|1,"url","md5","sign","signMethod","module","extData"}`: a push's data
// and thing.ota.firmware.get's reply data.
nlohmann::json OtaPackageData(const OtaPackage& package);
// The upgrade push on /ota/device/upgrade/{pk}/{dn}.
std::string BuildOtaPush(std::string_view id, const OtaPackage& package);

struct OtaInform {
  std::string module;  // kOtaDefaultModule when absent or empty
  std::string version;
};
// An inform's params. Errors: kMissingField (no version), kBadFieldType (not an object, version not a
// non-empty string of at most kMaxOtaVersionChars, module not a string of at most kMaxOtaModuleChars).
Result<OtaInform> DecodeOtaInform(const nlohmann::json& params);

struct OtaProgress {
  std::string module;  // kOtaDefaultModule when absent or empty
  int step = 0;        // 1..100 or -1..-4
  std::string desc;
};
// A progress report's params: step as a string of digits (Alibaba's SDKs) or an integer.
// Errors: kMissingField (no step), kBadFieldType (a step outside 1..100 and -1..-4, a desc or module
// that is not a string, a module too long).
Result<OtaProgress> DecodeOtaProgress(const nlohmann::json& params);

// thing.ota.firmware.get's params (`{"module"?}`; null or absent params = the default module).
// Errors: kBadFieldType.
Result<std::string> DecodeOtaFirmwareGet(const nlohmann::json& params);

// Device side: the data of a push or of a firmware get reply. Errors: kMissingField, kBadFieldType
// (also for a signMethod other than SHA256 / Md5, or a sign that is not hex of its digest's length).
Result<OtaPackage> DecodeOtaPackage(const nlohmann::json& data);
// Device side: an inform and a progress report (their `params` as above).
std::string BuildOtaInform(std::string_view id, std::string_view version, std::string_view module);
std::string BuildOtaProgress(std::string_view id, int step, std::string_view desc, std::string_view module);

}  // namespace iot::alink

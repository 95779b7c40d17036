#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/common/result.hpp"

// Remote configuration (reference §2.13): thing.config.get answered, thing.config.push sent, with the
// same fields: {"configId","configSize","sign","signMethod":"Sha256","url","getType":"file"}. The
// file is JSON; `sign` is the lower-case hex SHA-256 of its bytes.
namespace iot::alink {

inline constexpr std::string_view kConfigPushMethod = "thing.config.push";

// thing.config.get's refusals (reference §3.5).
inline constexpr int kConfigNotFoundCode = 6710;  // the product has no configuration file
inline constexpr int kConfigOffCode = 6713;       // the product's remote configuration is switched off

struct ConfigFile {
  std::string config_id;
  std::int64_t size = 0;
  std::string sign;  // hex SHA-256 of the file
  std::string url;   // where the device downloads it
};

// How long a download link handed to a device (get reply, push) stays valid.
inline constexpr std::int64_t kConfigUrlTtlS = 3600;

// iot-api's route serving a configuration file: "/api/v1/files/config/<configId>".
std::string ConfigFilePath(std::string_view config_id);
// The signed link to that route (iot::SignedUrl): valid until now_s + kConfigUrlTtlS.
std::string ConfigFileUrl(std::string_view base_url, std::string_view key, std::string_view config_id,
                          std::int64_t now_s);

// The reply data of thing.config.get, which is also the params of thing.config.push.
nlohmann::json ConfigData(const ConfigFile& file);

// The thing.config.push request (`{"id","version":"1.0","params","method":"thing.config.push"}`).
std::string BuildConfigPush(std::string_view id, const ConfigFile& file);

// thing.config.get params: an object whose configScope is "product" and getType "file" when given
// (the only values the platform supports). Errors: kBadFieldType (460).
Result<void> CheckConfigGetParams(const nlohmann::json& params);

// Device side: the fields of a get reply's data or a push's params. Errors: kMissingField,
// kBadFieldType (460), also for a signMethod other than Sha256 or a getType other than file.
Result<ConfigFile> DecodeConfigData(const nlohmann::json& data);

}  // namespace iot::alink

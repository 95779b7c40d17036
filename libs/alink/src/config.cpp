#include "iot/alink/config.hpp"

#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/signed_url.hpp"

namespace iot::alink {
namespace {

using Json = nlohmann::json;

// An optional string member that must equal `expected` when present.
bool AbsentOr(const Json& object, const char* key, std::string_view expected) {
  auto it = object.find(key);
  return it == object.end() || (it->is_string() && it->get_ref<const std::string&>() == expected);
}

}  // namespace

std::string ConfigFilePath(std::string_view config_id) {
  return "/api/v1/files/config/" + std::string(config_id);
}

std::string ConfigFileUrl(std::string_view base_url, std::string_view key, std::string_view config_id,
                          std::int64_t now_s) {
  return SignedUrl(base_url, ConfigFilePath(config_id), key, now_s + kConfigUrlTtlS);
}

Json ConfigData(const ConfigFile& file) {
  return Json{{"configId", file.config_id}, {"configSize", file.size}, {"sign", file.sign},
              {"signMethod", "Sha256"},     {"url", file.url},         {"getType", "file"}};
}

std::string BuildConfigPush(std::string_view id, const ConfigFile& file) {
  return BuildRequest(id, kConfigPushMethod, ConfigData(file));
}

Result<void> CheckConfigGetParams(const Json& params) {
  if (!params.is_object() || !AbsentOr(params, "configScope", "product") ||
      !AbsentOr(params, "getType", "file")) {
    return Errc::kBadFieldType;
  }
  return {};
}

Result<ConfigFile> DecodeConfigData(const Json& data) {
  if (!data.is_object()) {
    return Errc::kBadFieldType;
  }
  for (const char* key : {"configId", "configSize", "sign", "url"}) {
    if (!data.contains(key)) {
      return Errc::kMissingField;
    }
  }
  const Json& id = data["configId"];
  const Json& size = data["configSize"];
  const Json& sign = data["sign"];
  const Json& url = data["url"];
  if (!id.is_string() || !size.is_number_integer() || size.get<std::int64_t>() < 0 || !sign.is_string() ||
      !url.is_string() || !AbsentOr(data, "signMethod", "Sha256") || !AbsentOr(data, "getType", "file")) {
    return Errc::kBadFieldType;
  }
  return ConfigFile{id.get<std::string>(), size.get<std::int64_t>(), sign.get<std::string>(),
                    url.get<std::string>()};
}

}  // namespace iot::alink

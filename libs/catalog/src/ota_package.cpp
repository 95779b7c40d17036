#include "iot/catalog/ota_package.hpp"

#include <utility>

#include <nlohmann/json.hpp>

namespace iot::catalog {

alink::OtaPackage OtaPackageFor(const store::FirmwareInfo& firmware, std::string_view url_key,
                                std::string_view base_url, std::int64_t now_s, std::int64_t task_id) {
  alink::OtaPackage p;
  p.size = firmware.size;
  p.version = firmware.version;
  p.is_diff = firmware.is_diff;
  p.url = alink::FirmwareFileUrl(base_url, url_key, firmware.firmware_id, now_s, task_id);
  p.md5 = firmware.md5;
  p.sign = firmware.sha256;
  p.sign_method = "SHA256";
  p.module = firmware.module;
  if (firmware.ext_data_json) {
    auto ext = nlohmann::json::parse(*firmware.ext_data_json, nullptr, false);
    if (ext.is_object()) {
      p.ext_data = std::move(ext);
    }
  }
  return p;
}

}  // namespace iot::catalog

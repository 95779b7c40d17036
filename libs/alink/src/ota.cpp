#include "iot/alink/ota.hpp"

#include <cctype>
#include <charconv>

#include "iot/alink/error.hpp"
#include "iot/common/signed_url.hpp"

namespace iot::alink {
namespace {

using Json = nlohmann::json;

bool IsHex(const std::string& text, std::size_t length) {
  if (text.size() != length) {
    return false;
  }
  for (char c : text) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return false;
    }
  }
  return true;
}

// The optional `module` member: kOtaDefaultModule when absent or empty.
Result<std::string> ModuleOf(const Json& params) {
  auto it = params.find("module");
  if (it == params.end() || it->is_null()) {
    return std::string(kOtaDefaultModule);
  }
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxOtaModuleChars) {
    return Errc::kBadFieldType;
  }
  const auto& text = it->get_ref<const std::string&>();
  return text.empty() ? std::string(kOtaDefaultModule) : text;
}

bool ValidStep(std::int64_t step) { return (step >= 1 && step <= 100) || (step >= -4 && step <= -1); }

}  // namespace

std::string FirmwareFilePath(std::string_view firmware_id) {
  return "/api/v1/files/firmware/" + std::string(firmware_id);
}

std::string FirmwareSignedResource(std::string_view firmware_id, std::string_view task) {
  std::string resource = FirmwareFilePath(firmware_id);
  if (!task.empty()) {
    resource.append("?task=").append(task);
  }
  return resource;
}

std::string FirmwareFileUrl(std::string_view base_url, std::string_view key, std::string_view firmware_id,
                            std::int64_t now_s, std::int64_t task_id) {
  const std::int64_t expires = now_s + kFirmwareUrlTtlS;
  if (task_id <= 0) {
    return SignedUrl(base_url, FirmwareFilePath(firmware_id), key, expires);
  }
  const std::string task = std::to_string(task_id);
  std::string url(base_url);
  url.append(FirmwareFilePath(firmware_id))
      .append("?task=")
      .append(task)
      .append("&expires=")
      .append(std::to_string(expires))
      .append("&signature=")
      .append(UrlSignature(key, FirmwareSignedResource(firmware_id, task), expires));
  return url;
}

Json OtaPackageData(const OtaPackage& p) {
  return Json{{"size", p.size},
              {"version", p.version},
              {"isDiff", p.is_diff ? 1 : 0},
              {"url", p.url},
              {"md5", p.md5},
              {"sign", p.sign},
              {"signMethod", p.sign_method},
              {"module", p.module},
              {"extData", p.ext_data.is_object() ? p.ext_data : Json::object()}};
}

std::string BuildOtaPush(std::string_view id, const OtaPackage& package) {
  Json push = {{"code", std::string(kOtaPushCode)},
               {"data", OtaPackageData(package)},
               {"id", std::string(id)},
               {"message", "success"}};
  return push.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Result<OtaInform> DecodeOtaInform(const Json& params) {
  if (!params.is_object()) {
    return Errc::kBadFieldType;
  }
  auto version = params.find("version");
  if (version == params.end()) {
    return Errc::kMissingField;
  }
  if (!version->is_string() || version->get_ref<const std::string&>().empty() ||
      version->get_ref<const std::string&>().size() > kMaxOtaVersionChars) {
    return Errc::kBadFieldType;
  }
  auto module = ModuleOf(params);
  if (!module) {
    return module.error();
  }
  return OtaInform{std::move(*module), version->get<std::string>()};
}

Result<OtaProgress> DecodeOtaProgress(const Json& params) {
  if (!params.is_object()) {
    return Errc::kBadFieldType;
  }
  auto step = params.find("step");
  if (step == params.end()) {
    return Errc::kMissingField;
  }
  std::int64_t value = 0;
  if (step->is_number_integer()) {
    value = step->get<std::int64_t>();
  } else if (step->is_string()) {
    const auto& text = step->get_ref<const std::string&>();
    auto r = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
      return Errc::kBadFieldType;
    }
  } else {
    return Errc::kBadFieldType;
  }
  if (!ValidStep(value)) {
    return Errc::kBadFieldType;
  }
  OtaProgress out;
  out.step = static_cast<int>(value);
  if (auto desc = params.find("desc"); desc != params.end() && !desc->is_null()) {
    if (!desc->is_string()) {
      return Errc::kBadFieldType;
    }
    out.desc = desc->get<std::string>();
  }
  auto module = ModuleOf(params);
  if (!module) {
    return module.error();
  }
  out.module = std::move(*module);
  return out;
}

Result<std::string> DecodeOtaFirmwareGet(const Json& params) {
  if (params.is_null()) {
    return std::string(kOtaDefaultModule);
  }
  if (!params.is_object()) {
    return Errc::kBadFieldType;
  }
  return ModuleOf(params);
}

Result<OtaPackage> DecodeOtaPackage(const Json& data) {
  if (!data.is_object()) {
    return Errc::kBadFieldType;
  }
  for (const char* key : {"size", "version", "url"}) {
    if (!data.contains(key)) {
      return Errc::kMissingField;
    }
  }
  OtaPackage p;
  const Json& size = data["size"];
  const Json& version = data["version"];
  const Json& url = data["url"];
  if (!size.is_number_integer() || size.get<std::int64_t>() < 0 || !version.is_string() || !url.is_string()) {
    return Errc::kBadFieldType;
  }
  p.size = size.get<std::int64_t>();
  p.version = version.get<std::string>();
  p.url = url.get<std::string>();
  if (auto diff = data.find("isDiff"); diff != data.end()) {
    if (!diff->is_number_integer() && !diff->is_boolean()) {
      return Errc::kBadFieldType;
    }
    p.is_diff = diff->is_boolean() ? diff->get<bool>() : diff->get<std::int64_t>() != 0;
  }
  if (auto md5 = data.find("md5"); md5 != data.end()) {
    if (!md5->is_string() || !IsHex(md5->get<std::string>(), 32)) {
      return Errc::kBadFieldType;
    }
    p.md5 = md5->get<std::string>();
  }
  auto method = data.find("signMethod");
  auto sign = data.find("sign");
  if (method != data.end() || sign != data.end()) {
    if (method == data.end() || sign == data.end() || !method->is_string() || !sign->is_string()) {
      return Errc::kBadFieldType;
    }
    p.sign_method = method->get<std::string>();
    p.sign = sign->get<std::string>();
    const bool sha = p.sign_method == "SHA256";
    if ((!sha && p.sign_method != "Md5") || !IsHex(p.sign, sha ? 64 : 32)) {
      return Errc::kBadFieldType;
    }
  } else if (p.md5.empty()) {
    return Errc::kMissingField;  // nothing to verify the package with
  } else {
    p.sign_method = "Md5";
    p.sign = p.md5;
  }
  auto module = ModuleOf(data);
  if (!module) {
    return module.error();
  }
  p.module = std::move(*module);
  if (auto ext = data.find("extData"); ext != data.end() && !ext->is_null()) {
    if (!ext->is_object()) {
      return Errc::kBadFieldType;
    }
    p.ext_data = *ext;
  }
  return p;
}

std::string BuildOtaInform(std::string_view id, std::string_view version, std::string_view module) {
  Json params = {{"version", std::string(version)}};
  if (!module.empty() && module != kOtaDefaultModule) {
    params["module"] = std::string(module);
  }
  return Json{{"id", std::string(id)}, {"params", params}}.dump(-1, ' ', false,
                                                                Json::error_handler_t::replace);
}

std::string BuildOtaProgress(std::string_view id, int step, std::string_view desc, std::string_view module) {
  Json params = {{"step", std::to_string(step)}, {"desc", std::string(desc)}};
  if (!module.empty() && module != kOtaDefaultModule) {
    params["module"] = std::string(module);
  }
  return Json{{"id", std::string(id)}, {"params", params}}.dump(-1, ' ', false,
                                                                Json::error_handler_t::replace);
}

}  // namespace iot::alink

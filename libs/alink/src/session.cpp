#include "iot/alink/session.hpp"

#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"

namespace iot::alink {
namespace {

using Json = nlohmann::json;

Result<SubDeviceKey> DecodeKey(const Json& item) {
  if (!item.is_object()) {
    return Errc::kBadFieldType;
  }
  SubDeviceKey key;
  for (const auto& [name, out] : {std::pair<const char*, std::string*>{"productKey", &key.product_key},
                                  {"deviceName", &key.device_name}}) {
    const auto it = item.find(name);
    if (it == item.end()) {
      return Errc::kMissingField;
    }
    if (!it->is_string()) {
      return Errc::kBadFieldType;
    }
    *out = it->get<std::string>();
  }
  if (!IsValidProductKey(key.product_key) || !IsValidDeviceName(key.device_name)) {
    return Errc::kBadFieldType;
  }
  return key;
}

// The items of a batch: the array itself or its "deviceList".
const Json* BatchItems(const Json& params) {
  if (params.is_array()) {
    return &params;
  }
  if (params.is_object()) {
    const auto it = params.find("deviceList");
    if (it != params.end() && it->is_array()) {
      return &*it;
    }
  }
  return nullptr;
}

}  // namespace

Result<std::vector<SubDeviceKey>> DecodeDeviceKeys(const Json& params, std::size_t max_items) {
  if (!params.is_array() || params.empty() || params.size() > max_items) {
    return Errc::kBadFieldType;
  }
  std::vector<SubDeviceKey> out;
  out.reserve(params.size());
  for (const auto& item : params) {
    auto key = DecodeKey(item);
    if (!key) {
      return key.error();
    }
    out.push_back(std::move(*key));
  }
  return out;
}

std::string_view SessionMethod(TopicKind kind) noexcept {
  switch (kind) {
    case TopicKind::kSessionLogin: return "combine.login";
    case TopicKind::kSessionLogout: return "combine.logout";
    case TopicKind::kSessionBatchLogin: return "combine.batch.login";
    case TopicKind::kSessionBatchLogout: return "combine.batch.logout";
    default: return "";
  }
}

Result<SessionRequest> DecodeSessionParams(TopicKind kind, const Json& params) {
  SessionRequest out;
  auto add_login = [&](const Json& item) -> boost::system::error_code {
    auto sign = DecodeSubDeviceSign(item);
    if (!sign) {
      return sign.error();
    }
    if (!IsValidProductKey(sign->product_key) || !IsValidDeviceName(sign->device_name)) {
      return Errc::kBadFieldType;
    }
    out.logins.push_back(std::move(*sign));
    return {};
  };
  auto add_logout = [&](const Json& item) -> boost::system::error_code {
    auto key = DecodeKey(item);
    if (!key) {
      return key.error();
    }
    out.logouts.push_back(std::move(*key));
    return {};
  };
  switch (kind) {
    case TopicKind::kSessionLogin:
      if (auto ec = add_login(params)) {
        return ec;
      }
      return out;
    case TopicKind::kSessionLogout:
      if (auto ec = add_logout(params)) {
        return ec;
      }
      return out;
    case TopicKind::kSessionBatchLogin:
    case TopicKind::kSessionBatchLogout: {
      const Json* items = BatchItems(params);
      if (items == nullptr) {
        return Errc::kBadFieldType;
      }
      if (items->empty() || items->size() > kMaxSessionBatch) {
        return Errc::kBadFieldType;
      }
      for (const auto& item : *items) {
        if (auto ec = kind == TopicKind::kSessionBatchLogin ? add_login(item) : add_logout(item)) {
          return ec;
        }
      }
      return out;
    }
    default: return Errc::kTopicNotRecognized;
  }
}

}  // namespace iot::alink

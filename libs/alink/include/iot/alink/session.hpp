#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/result.hpp"

// Sub-device sessions over a gateway's connection (reference §2.17): combine.login, combine.logout
// and their batch forms on /ext/session/{gwPk}/{gwDn}/combine/...
namespace iot::alink {

// This platform's bound on one batch_login / batch_logout (a gateway sends several for more).
inline constexpr std::size_t kMaxSessionBatch = 50;

struct SubDeviceKey {
  std::string product_key;
  std::string device_name;
};

struct SessionRequest {
  std::vector<SubDeviceSign> logins;  // kSessionLogin, kSessionBatchLogin
  std::vector<SubDeviceKey> logouts;  // kSessionLogout, kSessionBatchLogout
};

// `params` of a session request of `kind`:
//   login        {"productKey","deviceName","clientId","timestamp","signMethod"|"signmethod","sign",...}
//   batch login  {"deviceList":[<login>...]} (a bare array is accepted too)
//   logout       {"productKey","deviceName"}
//   batch logout [{"productKey","deviceName"}...] ({"deviceList":[...]} is accepted too)
// Errors: kMissingField / kBadFieldType (460; also an empty batch, or more than kMaxSessionBatch items,
// or a malformed productKey / deviceName), kUnsupportedSignMethod (6292), kTopicNotRecognized for a kind
// that is not a session request.
Result<SessionRequest> DecodeSessionParams(TopicKind kind, const nlohmann::json& params);

// A list of sub-devices `[{"productKey","deviceName"}...]` (thing.topo.delete, thing.sub.register,
// batch logout): 1..max_items valid keys. Errors: kMissingField / kBadFieldType (460).
Result<std::vector<SubDeviceKey>> DecodeDeviceKeys(const nlohmann::json& params, std::size_t max_items);

// "combine.login", "combine.logout", "combine.batch.login", "combine.batch.logout"; "" otherwise.
std::string_view SessionMethod(TopicKind kind) noexcept;

}  // namespace iot::alink

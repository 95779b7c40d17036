#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iot/common/result.hpp"

// MQTT CONNECT authentication, one device one secret (reference §5.1), and the same signature for
// sub-devices in thing.topo.add / combine.login (§2.17).
namespace iot::alink {

enum class SignMethod { kHmacMd5, kHmacSha1, kHmacSha256 };

// Case-insensitive: "hmacsha1", "HmacSHA1", "hmacSha256", ... Unknown names give nullopt.
std::optional<SignMethod> ParseSignMethod(std::string_view name) noexcept;
std::string_view SignMethodName(SignMethod method) noexcept;  // "hmacmd5", "hmacsha1", "hmacsha256"

// Limits that keep hostile CONNECT packets cheap.
inline constexpr std::size_t kMaxClientIdBytes = 1024;
inline constexpr std::size_t kMaxUsernameBytes = 256;

struct ConnectCredentials {
  std::string client_id;    // text before the first '|' (goes into the sign content)
  std::string product_key;  // from username "{dn}&{pk}"
  std::string device_name;
  std::optional<int> secure_mode;                 // "securemode": 2 TLS, 3 TCP, -1, -2, 8, ...
  SignMethod sign_method = SignMethod::kHmacMd5;  // E1 docs: hmacmd5 when "signmethod" is absent
  bool sign_method_declared = false;
  std::optional<std::string> timestamp;  // "timestamp" as sent; never checked against a clock
  // Every k=v of the extension in order, including the ones above (first occurrence wins for
  // those). Values may contain '|' and spaces (Node SDK "lan=JS|Broswer ").
  std::vector<std::pair<std::string, std::string>> extension;

  // Value of an extension key, if present.
  std::optional<std::string_view> Extension(std::string_view key) const noexcept;
};

// clientId `<id>|k=v,k=v|`: the id is the text before the first '|', the extension the text between
// the first and the last '|' (never split on every '|'). Username `{dn}&{pk}` with valid segments.
// Errors: kBadClientId (460: empty id, fewer than two '|', text after the last '|', control bytes,
// invalid UTF-8, over kMaxClientIdBytes, non-integer securemode), kBadUsername (460),
// kUnsupportedSignMethod (6292).
Result<ConnectCredentials> ParseConnect(std::string_view client_id, std::string_view username);

// "clientId{id}deviceName{dn}productKey{pk}timestamp{ts}"; the timestamp part is left out when
// `timestamp` is empty.
std::string SignContent(std::string_view client_id, std::string_view device_name,
                        std::string_view product_key, std::string_view timestamp);

// Lower-case hex HMAC of `content` keyed with `secret`.
std::string Sign(SignMethod method, std::string_view secret, std::string_view content);

// Checks `password` (hex, any case, compared in constant time) against the HMAC of the declared
// method; if that fails and the method is not SHA-1, also against HMAC-SHA1, because the Node SDK
// 1.2.8 always signs with SHA-1 whatever it declares. Returns the method that matched.
// Errors: kBadSignature (401), also for an empty secret.
Result<SignMethod> VerifyPassword(const ConnectCredentials& credentials, std::string_view device_secret,
                                  std::string_view password);

// One product one secret (reference §5.2), over HTTPS and MQTT: the sign content is
// "deviceName{dn}productKey{pk}random{random}", keyed with the ProductSecret.
std::string RegisterSignContent(std::string_view device_name, std::string_view product_key,
                                std::string_view random);
// Constant-time check of a registration sign (hex, any case) with the declared method, then with
// HMAC-SHA1 (the Node SDK computes SHA-1 whatever it declares). Errors: kBadSignature.
Result<SignMethod> VerifyRegisterSign(SignMethod method, std::string_view product_secret,
                                      std::string_view device_name, std::string_view product_key,
                                      std::string_view random, std::string_view sign);

// What a device sends in CONNECT, for the device SDK and the simulator (C SDK format:
// clientId "{pk}.{dn}|timestamp=..,_v=..,securemode=..,signmethod=..,lan=C,gw=0,ext=0|").
struct ConnectParams {
  std::string client_id;
  std::string username;
  std::string password;
};
ConnectParams MakeConnectParams(std::string_view product_key, std::string_view device_name,
                                std::string_view device_secret, SignMethod method, std::string_view timestamp,
                                int secure_mode = 3);

// A sub-device's credentials in thing.topo.add params[i] or combine.login params: productKey,
// deviceName, clientId, timestamp (string or number), sign, and signmethod or signMethod.
struct SubDeviceSign {
  std::string product_key;
  std::string device_name;
  std::string client_id;
  std::string timestamp;  // number text when sent as a JSON number
  std::string sign;
  SignMethod sign_method = SignMethod::kHmacSha1;
};

// Errors: kMissingField, kBadFieldType (460), kUnsupportedSignMethod (6292).
Result<SubDeviceSign> DecodeSubDeviceSign(const nlohmann::json& item);

// Constant-time check of the sign with the sub-device's DeviceSecret (no SHA-1 fallback: both SDKs
// sign sub-devices correctly). Errors: kBadSignature.
Result<void> VerifySubDeviceSign(const SubDeviceSign& sub, std::string_view device_secret);

}  // namespace iot::alink

#include "iot/alink/credentials.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "iot/alink/error.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/hex.hpp"
#include "json_parse.hpp"

namespace iot::alink {
namespace {

using Json = nlohmann::json;

struct Mac {
  std::array<unsigned char, EVP_MAX_MD_SIZE> bytes{};
  unsigned int size = 0;
};

Mac ComputeMac(SignMethod method, std::string_view secret, std::string_view content) {
  const EVP_MD* md = nullptr;
  switch (method) {
    case SignMethod::kHmacMd5: md = EVP_md5(); break;
    case SignMethod::kHmacSha1: md = EVP_sha1(); break;
    case SignMethod::kHmacSha256: md = EVP_sha256(); break;
  }
  Mac mac;
  static const unsigned char kNoKey = 0;  // OpenSSL wants a non-null key pointer
  const void* key = secret.empty() ? &kNoKey : static_cast<const void*>(secret.data());
  const auto* data = reinterpret_cast<const unsigned char*>(content.data());
  if (HMAC(md, key, static_cast<int>(secret.size()), data, content.size(), mac.bytes.data(), &mac.size) ==
      nullptr) {
    mac.size = 0;
  }
  return mac;
}

// Decodes the claimed hex password and compares bytes with CRYPTO_memcmp; decoding leaks only
// facts about the attacker's own input, the comparison leaks nothing about the MAC.
bool HexMatches(const Mac& mac, std::string_view hex) {
  if (mac.size == 0 || hex.size() != 2 * static_cast<std::size_t>(mac.size)) {
    return false;
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> claimed{};
  for (std::size_t i = 0; i < mac.size; ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    claimed[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return CRYPTO_memcmp(claimed.data(), mac.bytes.data(), mac.size) == 0;
}

// The HMAC of the declared method, or HMAC-SHA1 whatever is declared (the Node SDK 1.2.8 always signs
// with SHA-1): the method that matched, else kBadSignature.
Result<SignMethod> MatchDeclaredOrSha1(SignMethod declared, std::string_view secret,
                                       const std::string& content, std::string_view hex) {
  if (HexMatches(ComputeMac(declared, secret, content), hex)) {
    return declared;
  }
  if (declared != SignMethod::kHmacSha1 &&
      HexMatches(ComputeMac(SignMethod::kHmacSha1, secret, content), hex)) {
    return SignMethod::kHmacSha1;
  }
  return Errc::kBadSignature;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool HasControlBytes(std::string_view s) {
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return true;
    }
  }
  return false;
}

// Text of a string or number member (timestamps come both ways).
boost::system::error_code StringOrNumber(const Json& obj, const char* key, std::string& out, bool required) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    return required ? Errc::kMissingField : boost::system::error_code{};
  }
  if (const auto* s = it->get_ptr<const std::string*>()) {
    out = *s;
  } else if (it->is_number_integer()) {
    out = it->is_number_unsigned() ? std::to_string(it->get<std::uint64_t>())
                                   : std::to_string(it->get<std::int64_t>());
  } else {
    return Errc::kBadFieldType;
  }
  return {};
}

}  // namespace

std::optional<SignMethod> ParseSignMethod(std::string_view name) noexcept {
  for (const auto m : {SignMethod::kHmacMd5, SignMethod::kHmacSha1, SignMethod::kHmacSha256}) {
    if (EqualsIgnoreCase(name, SignMethodName(m))) {
      return m;
    }
  }
  return std::nullopt;
}

std::string_view SignMethodName(SignMethod method) noexcept {
  switch (method) {
    case SignMethod::kHmacMd5: return "hmacmd5";
    case SignMethod::kHmacSha1: return "hmacsha1";
    case SignMethod::kHmacSha256: return "hmacsha256";
  }
  return "";
}

std::optional<std::string_view> ConnectCredentials::Extension(std::string_view key) const noexcept {
  for (const auto& [k, v] : extension) {
    if (k == key) {
      return std::string_view(v);
    }
  }
  return std::nullopt;
}

Result<ConnectCredentials> ParseConnect(std::string_view client_id, std::string_view username) {
  if (client_id.size() > kMaxClientIdBytes || HasControlBytes(client_id) || !IsValidUtf8(client_id)) {
    return Errc::kBadClientId;
  }
  const auto first_bar = client_id.find('|');
  const auto last_bar = client_id.rfind('|');
  if (first_bar == std::string_view::npos || first_bar == 0 || last_bar == first_bar ||
      last_bar + 1 != client_id.size()) {
    return Errc::kBadClientId;
  }
  ConnectCredentials c;
  c.client_id = client_id.substr(0, first_bar);
  std::string_view ext = client_id.substr(first_bar + 1, last_bar - first_bar - 1);
  while (!ext.empty()) {
    const auto comma = ext.find(',');
    const auto item = ext.substr(0, comma);
    ext = comma == std::string_view::npos ? std::string_view{} : ext.substr(comma + 1);
    if (item.empty()) {
      continue;  // tolerate ",," and a trailing ','
    }
    const auto eq = item.find('=');
    std::string key(item.substr(0, eq));
    std::string value(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
    const bool first_time = !c.Extension(key).has_value();
    if (first_time && key == "securemode") {
      int mode = 0;
      const auto r = std::from_chars(value.data(), value.data() + value.size(), mode);
      if (value.empty() || r.ec != std::errc() || r.ptr != value.data() + value.size()) {
        return Errc::kBadClientId;
      }
      c.secure_mode = mode;
    } else if (first_time && key == "signmethod") {
      const auto method = ParseSignMethod(value);
      if (!method) {
        return Errc::kUnsupportedSignMethod;
      }
      c.sign_method = *method;
      c.sign_method_declared = true;
    } else if (first_time && key == "timestamp") {
      c.timestamp = value;
    }
    c.extension.emplace_back(std::move(key), std::move(value));
  }
  if (username.size() > kMaxUsernameBytes) {
    return Errc::kBadUsername;
  }
  const auto amp = username.find('&');
  if (amp == std::string_view::npos) {
    return Errc::kBadUsername;
  }
  const auto dn = username.substr(0, amp);
  const auto pk = username.substr(amp + 1);
  if (!IsValidDeviceName(dn) || !IsValidProductKey(pk)) {
    return Errc::kBadUsername;
  }
  c.device_name = dn;
  c.product_key = pk;
  return c;
}

std::string SignContent(std::string_view client_id, std::string_view device_name,
                        std::string_view product_key, std::string_view timestamp) {
  std::string out;
  out.reserve(48 + client_id.size() + device_name.size() + product_key.size() + timestamp.size());
  out += "clientId";
  out += client_id;
  out += "deviceName";
  out += device_name;
  out += "productKey";
  out += product_key;
  if (!timestamp.empty()) {
    out += "timestamp";
    out += timestamp;
  }
  return out;
}

std::string Sign(SignMethod method, std::string_view secret, std::string_view content) {
  const Mac mac = ComputeMac(method, secret, content);
  return ToHex(std::string_view(reinterpret_cast<const char*>(mac.bytes.data()), mac.size));
}

Result<SignMethod> VerifyPassword(const ConnectCredentials& c, std::string_view device_secret,
                                  std::string_view password) {
  if (device_secret.empty()) {
    return Errc::kBadSignature;
  }
  return MatchDeclaredOrSha1(c.sign_method, device_secret,
                             SignContent(c.client_id, c.device_name, c.product_key, c.timestamp.value_or("")),
                             password);
}

std::string RegisterSignContent(std::string_view device_name, std::string_view product_key,
                                std::string_view random) {
  std::string out;
  out.reserve(32 + device_name.size() + product_key.size() + random.size());
  out += "deviceName";
  out += device_name;
  out += "productKey";
  out += product_key;
  out += "random";
  out += random;
  return out;
}

Result<SignMethod> VerifyRegisterSign(SignMethod method, std::string_view product_secret,
                                      std::string_view device_name, std::string_view product_key,
                                      std::string_view random, std::string_view sign) {
  if (product_secret.empty()) {
    return Errc::kBadSignature;
  }
  return MatchDeclaredOrSha1(method, product_secret, RegisterSignContent(device_name, product_key, random),
                             sign);
}

ConnectParams MakeConnectParams(std::string_view product_key, std::string_view device_name,
                                std::string_view device_secret, SignMethod method, std::string_view timestamp,
                                int secure_mode) {
  ConnectParams p;
  std::string id;
  id += product_key;
  id += '.';
  id += device_name;
  p.client_id = id;
  p.client_id += '|';
  if (!timestamp.empty()) {
    p.client_id += "timestamp=";
    p.client_id += timestamp;
    p.client_id += ',';
  }
  p.client_id += "_v=iot-cpp-1,securemode=";
  p.client_id += std::to_string(secure_mode);
  p.client_id += ",signmethod=";
  p.client_id += SignMethodName(method);
  p.client_id += ",lan=C,gw=0,ext=0|";
  p.username = std::string(device_name) + "&" + std::string(product_key);
  p.password = Sign(method, device_secret, SignContent(id, device_name, product_key, timestamp));
  return p;
}

Result<SubDeviceSign> DecodeSubDeviceSign(const Json& item) {
  if (!item.is_object()) {
    return Errc::kBadFieldType;
  }
  SubDeviceSign s;
  std::string method_name;
  for (const auto& [key, out, required] :
       {std::tuple<const char*, std::string*, bool>{"productKey", &s.product_key, true},
        {"deviceName", &s.device_name, true},
        {"clientId", &s.client_id, true},
        {"timestamp", &s.timestamp, false},
        {"sign", &s.sign, true}}) {
    if (auto ec = StringOrNumber(item, key, *out, required)) {
      return ec;
    }
  }
  // C SDK sends "signmethod", Node SDK "signMethod".
  const char* method_key = item.contains("signmethod") ? "signmethod" : "signMethod";
  if (auto ec = StringOrNumber(item, method_key, method_name, true)) {
    return ec;
  }
  const auto method = ParseSignMethod(method_name);
  if (!method) {
    return Errc::kUnsupportedSignMethod;
  }
  s.sign_method = *method;
  return s;
}

Result<void> VerifySubDeviceSign(const SubDeviceSign& sub, std::string_view device_secret) {
  if (device_secret.empty()) {
    return Errc::kBadSignature;
  }
  const auto content = SignContent(sub.client_id, sub.device_name, sub.product_key, sub.timestamp);
  if (!HexMatches(ComputeMac(sub.sign_method, device_secret, content), sub.sign)) {
    return Errc::kBadSignature;
  }
  return {};
}

}  // namespace iot::alink

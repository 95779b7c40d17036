#include "iot/common/signed_url.hpp"

#include <array>
#include <charconv>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "iot/common/hex.hpp"

namespace iot {
namespace {

constexpr std::size_t kMacBytes = 32;

std::array<unsigned char, kMacBytes> Mac(std::string_view key, std::string_view path,
                                         std::int64_t expires_s) {
  std::string content;
  content.reserve(path.size() + 24);
  content.append(path).append("\n").append(std::to_string(expires_s));
  std::array<unsigned char, kMacBytes> out{};
  static const unsigned char kNoKey = 0;  // OpenSSL wants a non-null key pointer
  const void* k = key.empty() ? &kNoKey : static_cast<const void*>(key.data());
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(content.data()), content.size(), out.data(),
           &size) == nullptr ||
      size != kMacBytes) {
    out.fill(0);
  }
  return out;
}

}  // namespace

std::string UrlSignature(std::string_view key, std::string_view path, std::int64_t expires_s) {
  auto mac = Mac(key, path, expires_s);
  return ToHex(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

std::string SignedUrl(std::string_view base_url, std::string_view path, std::string_view key,
                      std::int64_t expires_s) {
  std::string url(base_url);
  url.append(path)
      .append("?expires=")
      .append(std::to_string(expires_s))
      .append("&signature=")
      .append(UrlSignature(key, path, expires_s));
  return url;
}

UrlCheck VerifyUrl(std::string_view key, std::string_view path, std::string_view expires_text,
                   std::string_view signature_hex, std::int64_t now_s) {
  std::int64_t expires = 0;
  const char* end = expires_text.data() + expires_text.size();
  auto [ptr, ec] = std::from_chars(expires_text.data(), end, expires);
  if (expires_text.empty() || ec != std::errc() || ptr != end || expires < 0 ||
      signature_hex.size() != 2 * kMacBytes) {
    return UrlCheck::kBadSignature;
  }
  std::array<unsigned char, kMacBytes> claimed{};
  for (std::size_t i = 0; i < kMacBytes; ++i) {
    const int hi = HexValue(signature_hex[2 * i]);
    const int lo = HexValue(signature_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return UrlCheck::kBadSignature;
    }
    claimed[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  auto mac = Mac(key, path, expires);
  if (CRYPTO_memcmp(claimed.data(), mac.data(), kMacBytes) != 0) {
    return UrlCheck::kBadSignature;
  }
  return now_s > expires ? UrlCheck::kExpired : UrlCheck::kValid;
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH));
}

}  // namespace iot

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// Signed, expiring download links: what iot-api serves without a bearer token (remote configuration
// files; firmware later). A link is `<base><path>?expires=<unix s>&signature=<hex>` where the signature
// is the lower-case hex HMAC-SHA256, keyed with a key every iot-api and gateway instance shares, of
// "<path>\n<expires>". The path names the resource (it is signed whole), so a signature of one file
// never opens another, and the expiry cannot be moved without breaking the signature.
namespace iot {

// Lower-case hex HMAC-SHA256 of "<path>\n<expires_s>" keyed with `key` (raw bytes).
std::string UrlSignature(std::string_view key, std::string_view path, std::int64_t expires_s);

// `base_url` (no trailing slash; may be empty for a relative link) + `path` + the query carrying the
// expiry and the signature.
std::string SignedUrl(std::string_view base_url, std::string_view path, std::string_view key,
                      std::int64_t expires_s);

enum class UrlCheck {
  kValid,
  kBadSignature,  // missing, malformed or wrong expires/signature (HTTP 403)
  kExpired,       // correctly signed, but `now_s` is past its expiry (HTTP 410)
};

// Checks a link's `expires` and `signature` query values for `path` at `now_s`. The signature is
// compared in constant time and checked before the expiry (a link with a changed expiry is
// kBadSignature, never kExpired).
UrlCheck VerifyUrl(std::string_view key, std::string_view path, std::string_view expires_text,
                   std::string_view signature_hex, std::int64_t now_s);

// Lower-case hex SHA-256 of `bytes` (the `sign` of a configuration file).
std::string Sha256Hex(std::string_view bytes);

}  // namespace iot

#include "iot/common/signed_url.hpp"

#include <cctype>
#include <string>

#include <catch2/catch.hpp>

using iot::SignedUrl;
using iot::UrlCheck;
using iot::UrlSignature;
using iot::VerifyUrl;

namespace {
const std::string kKey = "0123456789abcdef0123456789abcdef";
const std::string kPath = "/api/v1/files/config/3cfda5091d5b4f53b51621cf4bbf86ec";
}  // namespace

TEST_CASE("Sha256Hex is the lower-case hex SHA-256 (FIPS 180-2 vectors)", "[signed_url]") {
  CHECK(iot::Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(iot::Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("UrlSignature is the hex HMAC-SHA256 of path, newline, expiry", "[signed_url]") {
  // printf '/p\n10' | openssl dgst -sha256 -hmac k
  CHECK(UrlSignature("k", "/p", 10) == "0df15a428d42c79b6dfb7ecde2e3c16f51b9a40966622fd8f37584220b4c9214");
  CHECK(UrlSignature(kKey, kPath, 100) == UrlSignature(kKey, kPath, 100));
  CHECK(UrlSignature(kKey, kPath, 100) != UrlSignature(kKey, kPath, 101));
  CHECK(UrlSignature(kKey, kPath, 100) != UrlSignature(kKey, kPath + "0", 100));
  CHECK(UrlSignature(kKey, kPath, 100) != UrlSignature("another key", kPath, 100));
}

TEST_CASE("SignedUrl puts expires and signature in the query after base and path", "[signed_url]") {
  const std::string url = SignedUrl("https://iot.example:8443", kPath, kKey, 1700000000);
  CHECK(url == "https://iot.example:8443" + kPath +
                   "?expires=1700000000&signature=" + UrlSignature(kKey, kPath, 1700000000));
  CHECK(SignedUrl("", "/x", kKey, 5).rfind("/x?expires=5&signature=", 0) == 0);
}

TEST_CASE("VerifyUrl accepts its own links until they expire", "[signed_url]") {
  const std::string sig = UrlSignature(kKey, kPath, 1000);
  CHECK(VerifyUrl(kKey, kPath, "1000", sig, 999) == UrlCheck::kValid);
  CHECK(VerifyUrl(kKey, kPath, "1000", sig, 1000) == UrlCheck::kValid);
  CHECK(VerifyUrl(kKey, kPath, "1000", sig, 1001) == UrlCheck::kExpired);
  std::string upper = sig;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  CHECK(VerifyUrl(kKey, kPath, "1000", upper, 999) == UrlCheck::kValid);
}

TEST_CASE("VerifyUrl refuses tampered, foreign and malformed links", "[signed_url]") {
  const std::string sig = UrlSignature(kKey, kPath, 1000);
  CHECK(VerifyUrl(kKey, kPath, "2000", sig, 999) == UrlCheck::kBadSignature);         // expiry moved
  CHECK(VerifyUrl(kKey, kPath, "2000", sig, 1500) == UrlCheck::kBadSignature);        // never "expired"
  CHECK(VerifyUrl(kKey, kPath + "x", "1000", sig, 999) == UrlCheck::kBadSignature);   // other file
  CHECK(VerifyUrl("other key", kPath, "1000", sig, 999) == UrlCheck::kBadSignature);  // other key
  std::string flipped = sig;
  flipped[10] = flipped[10] == '0' ? '1' : '0';
  CHECK(VerifyUrl(kKey, kPath, "1000", flipped, 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "", sig, 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "10x0", sig, 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "-1", sig, 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "99999999999999999999999", sig, 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "1000", "", 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "1000", sig.substr(2), 999) == UrlCheck::kBadSignature);
  CHECK(VerifyUrl(kKey, kPath, "1000", sig + "00", 999) == UrlCheck::kBadSignature);
  std::string nonhex = sig;
  nonhex[0] = 'g';
  CHECK(VerifyUrl(kKey, kPath, "1000", nonhex, 999) == UrlCheck::kBadSignature);
}

#include "iot/common/digest.hpp"

#include <openssl/evp.h>

#include "iot/common/hex.hpp"

// OpenSSL's EVP digests (the low-level MD5_* and SHA256_* calls are deprecated in OpenSSL 3). A digest
// so far is taken from a copy of the context, so feeding may continue.

namespace iot {

struct PackageDigest::State {
  EVP_MD_CTX* md5 = EVP_MD_CTX_new();
  EVP_MD_CTX* sha256 = EVP_MD_CTX_new();
  State() {
    EVP_DigestInit_ex(md5, EVP_md5(), nullptr);
    EVP_DigestInit_ex(sha256, EVP_sha256(), nullptr);
  }
  ~State() {
    EVP_MD_CTX_free(md5);
    EVP_MD_CTX_free(sha256);
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;
};

namespace {

std::string Final(const EVP_MD_CTX* ctx) {
  EVP_MD_CTX* copy = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (copy == nullptr || EVP_MD_CTX_copy_ex(copy, ctx) != 1 || EVP_DigestFinal_ex(copy, digest, &size) != 1) {
    EVP_MD_CTX_free(copy);
    return {};
  }
  EVP_MD_CTX_free(copy);
  return ToHex(std::string_view(reinterpret_cast<const char*>(digest), size));
}

}  // namespace

PackageDigest::PackageDigest() : state_(std::make_unique<State>()) {}
PackageDigest::~PackageDigest() = default;
PackageDigest::PackageDigest(PackageDigest&&) noexcept = default;
PackageDigest& PackageDigest::operator=(PackageDigest&&) noexcept = default;

void PackageDigest::Update(std::string_view bytes) {
  EVP_DigestUpdate(state_->md5, bytes.data(), bytes.size());
  EVP_DigestUpdate(state_->sha256, bytes.data(), bytes.size());
}

std::string PackageDigest::Md5Hex() const { return Final(state_->md5); }
std::string PackageDigest::Sha256Hex() const { return Final(state_->sha256); }

}  // namespace iot

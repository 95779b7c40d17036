#include "http/auth.hpp"

#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace iot::api {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "viewer") {
    return Role::kViewer;
  }
  if (text == "operator") {
    return Role::kOperator;
  }
  if (text == "admin") {
    return Role::kAdmin;
  }
  return std::nullopt;
}

TokenHash HashToken(std::string_view token) {
  TokenHash hash{};
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), hash.data(), &length, EVP_sha256(), nullptr) != 1 ||
      length != hash.size()) {
    throw std::runtime_error("SHA-256 failed");  // OpenSSL misconfigured: nothing sensible to do
  }
  return hash;
}

void StaticTokenAuthenticator::Add(std::string_view token, Principal principal) {
  entries_.push_back({HashToken(token), std::move(principal)});
}

std::optional<Principal> StaticTokenAuthenticator::Find(std::string_view token) const {
  if (token.empty()) {
    return std::nullopt;
  }
  const TokenHash hash = HashToken(token);
  const Entry* found = nullptr;
  for (const auto& entry : entries_) {
    // No early exit: the time taken does not depend on which entry (if any) matches.
    if (CRYPTO_memcmp(entry.hash.data(), hash.data(), hash.size()) == 0) {
      found = &entry;
    }
  }
  if (found == nullptr) {
    return std::nullopt;
  }
  return found->principal;
}

void StaticTokenAuthenticator::Authenticate(std::string_view token, std::string_view /*client*/, Done done) {
  auto principal = Find(token);
  done(principal ? AuthResult::Ok(std::move(*principal)) : AuthResult::Failed(AuthResult::Status::kUnknown));
}

void ChainAuthenticator::Authenticate(std::string_view token, std::string_view client, Done done) {
  // The second lookup may complete on another thread: keep our own copies.
  first_.Authenticate(token, client,
                      [this, token = std::string(token), client = std::string(client),
                       done = std::move(done)](AuthResult result) mutable {
                        if (result.status == AuthResult::Status::kOk) {
                          done(std::move(result));
                        } else {
                          second_.Authenticate(token, client, std::move(done));
                        }
                      });
}

std::string_view BearerToken(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) {
    return {};
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (c != kScheme[i]) {
      return {};
    }
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  return token;
}

}  // namespace iot::api

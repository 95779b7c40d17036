#pragma once

#include <memory>
#include <string>
#include <string_view>

// MD5 and SHA-256 of a byte stream fed in pieces: a firmware package is hashed while it is uploaded
// (iot-api) and while it is downloaded (the device SDK), never held whole to be hashed.
namespace iot {

class PackageDigest {
 public:
  PackageDigest();
  ~PackageDigest();
  PackageDigest(PackageDigest&&) noexcept;
  PackageDigest& operator=(PackageDigest&&) noexcept;

  void Update(std::string_view bytes);
  // Lower-case hex digests of everything fed so far (Update may continue afterwards).
  std::string Md5Hex() const;
  std::string Sha256Hex() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace iot

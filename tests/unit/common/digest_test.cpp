#include "iot/common/digest.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "iot/common/signed_url.hpp"

TEST_CASE("PackageDigest: MD5 and SHA-256 of the known vectors", "[digest]") {
  iot::PackageDigest empty;
  CHECK(empty.Md5Hex() == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(empty.Sha256Hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  iot::PackageDigest abc;
  abc.Update("abc");
  CHECK(abc.Md5Hex() == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(abc.Sha256Hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("PackageDigest: pieces hash like the whole, and a digest so far does not end the stream",
          "[digest]") {
  std::string whole;
  for (int i = 0; i < 100000; ++i) {
    whole.push_back(static_cast<char>(i * 7 + 3));
  }
  iot::PackageDigest pieces;
  std::size_t at = 0;
  for (std::size_t size : {0UL, 1UL, 63UL, 64UL, 65UL, 4096UL, 30000UL}) {
    pieces.Update(std::string_view(whole).substr(at, size));
    at += size;
  }
  const std::string midway = pieces.Sha256Hex();
  CHECK(midway == iot::Sha256Hex(whole.substr(0, at)));
  pieces.Update(std::string_view(whole).substr(at));
  CHECK(pieces.Sha256Hex() == iot::Sha256Hex(whole));
  iot::PackageDigest once;
  once.Update(whole);
  CHECK(pieces.Md5Hex() == once.Md5Hex());

  iot::PackageDigest moved = std::move(once);
  CHECK(moved.Sha256Hex() == iot::Sha256Hex(whole));
}

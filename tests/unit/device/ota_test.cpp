#include "iot/device/ota.hpp"

#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "iot/common/digest.hpp"

using namespace iot::device;

namespace {

using Ranges = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

std::string Bytes(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + 7) % 251);
  }
  return s;
}

iot::alink::OtaPackage PackageOf(const std::string& bytes) {
  iot::PackageDigest d;
  d.Update(bytes);
  iot::alink::OtaPackage p;
  p.size = static_cast<std::int64_t>(bytes.size());
  p.version = "2.0.0";
  p.url = "http://127.0.0.1:1/api/v1/files/firmware/x";
  p.md5 = d.Md5Hex();
  p.sign = d.Sha256Hex();
  p.sign_method = "SHA256";
  return p;
}

// A server holding `bytes` that answers ranges: what it was asked, and what the device reported.
struct Server {
  explicit Server(std::string b) : bytes(std::move(b)) {}
  std::string bytes;
  Ranges asked;
  int fail_next = 0;       // this many requests get no answer (a cut connection)
  int status = 206;        // 200: Range ignored, the whole package
  std::vector<int> steps;  // reported
  std::vector<std::string> descs;

  OtaFetcher Fetcher() {
    return [this](std::uint64_t first, std::uint64_t last) {
      asked.emplace_back(first, last);
      OtaFetch f;
      if (fail_next > 0) {
        --fail_next;
        f.error = "connection reset";
        return f;
      }
      f.status = status;
      if (status == 206) {
        f.body = bytes.substr(first, last - first + 1);
      } else if (status == 200) {
        f.body = bytes;
      }
      return f;
    };
  }
  OtaReporter Reporter() {
    return [this](int step, std::string_view desc) {
      steps.push_back(step);
      descs.emplace_back(desc);
    };
  }
};

OtaOptions Quick() {
  OtaOptions o;
  o.piece_bytes = 1000;
  o.retry_delay = std::chrono::milliseconds(0);
  o.attempts = 3;
  return o;
}

}  // namespace

TEST_CASE("OTA download: pieces by Range in order, progress every 25 percent, verified", "[device][ota]") {
  Server server(Bytes(4000));
  std::string stored;
  OtaOptions o = Quick();
  o.sink = [&](std::string_view b) {
    stored.append(b);
    return true;
  };
  OtaResult r = RunOtaDownload(PackageOf(server.bytes), o, server.Fetcher(), server.Reporter());
  CHECK(r.ok);
  CHECK(r.step == 100);
  CHECK(r.bytes == 4000);
  CHECK(r.requests == 4);
  CHECK(r.resumed_requests == 0);
  CHECK(stored == server.bytes);
  CHECK(server.asked == Ranges{{0, 999}, {1000, 1999}, {2000, 2999}, {3000, 3999}});
  CHECK(server.steps == std::vector<int>{1, 25, 50, 75, 100});
}

TEST_CASE("OTA download: a cut piece resumes from the last byte received", "[device][ota]") {
  Server server(Bytes(2500));
  std::string stored;
  OtaOptions o = Quick();
  o.cut_at = 1300;
  o.sink = [&](std::string_view b) {
    stored.append(b);
    return true;
  };
  OtaResult r = RunOtaDownload(PackageOf(server.bytes), o, server.Fetcher(), server.Reporter());
  CHECK(r.ok);
  CHECK(stored == server.bytes);
  CHECK(r.resumed_requests == 1);
  CHECK(server.asked == Ranges{{0, 999}, {1000, 1999}, {1300, 2299}, {2300, 2499}});
}

TEST_CASE("OTA download: failed requests are asked again, too many fail the download with -2",
          "[device][ota]") {
  Server server(Bytes(1500));
  server.fail_next = 2;
  OtaResult r = RunOtaDownload(PackageOf(server.bytes), Quick(), server.Fetcher(), server.Reporter());
  CHECK(r.ok);
  CHECK(r.resumed_requests == 2);
  CHECK(r.requests == 4);

  Server down(Bytes(1500));
  down.fail_next = 100;
  r = RunOtaDownload(PackageOf(down.bytes), Quick(), down.Fetcher(), down.Reporter());
  CHECK_FALSE(r.ok);
  CHECK(r.step == -2);
  CHECK(r.desc == "download failed: connection reset");
  CHECK(down.asked.size() == 3);  // attempts
  CHECK(down.steps == std::vector<int>{1, -2});

  Server gone(Bytes(1500));
  gone.status = 403;  // an expired link is not asked again
  r = RunOtaDownload(PackageOf(gone.bytes), Quick(), gone.Fetcher(), gone.Reporter());
  CHECK(r.step == -2);
  CHECK(gone.asked.size() == 1);
  CHECK(r.desc == "download failed: HTTP 403 for bytes 0-999");
}

TEST_CASE("OTA download: a server ignoring Range still works for a package within one piece",
          "[device][ota]") {
  Server server(Bytes(800));
  server.status = 200;
  OtaResult r = RunOtaDownload(PackageOf(server.bytes), Quick(), server.Fetcher(), server.Reporter());
  CHECK(r.ok);
  CHECK(r.bytes == 800);
}

TEST_CASE("OTA download: a corrupted package or a wrong sign is -3, a refusing sink -4", "[device][ota]") {
  Server server(Bytes(3000));
  OtaOptions o = Quick();
  o.corrupt = true;
  OtaResult r = RunOtaDownload(PackageOf(server.bytes), o, server.Fetcher(), server.Reporter());
  CHECK_FALSE(r.ok);
  CHECK(r.step == -3);
  CHECK(r.desc == "md5 mismatch");
  CHECK(server.steps.back() == -3);
  CHECK(server.descs.back() == "md5 mismatch");

  auto package = PackageOf(server.bytes);
  package.md5.clear();
  package.sign = std::string(64, '0');
  r = RunOtaDownload(package, Quick(), server.Fetcher(), server.Reporter());
  CHECK(r.step == -3);
  CHECK(r.desc == "SHA256 sign mismatch");

  package = PackageOf(server.bytes);
  iot::PackageDigest d;
  d.Update(server.bytes);
  package.sign_method = "Md5";
  package.sign = d.Md5Hex();
  CHECK(RunOtaDownload(package, Quick(), server.Fetcher(), nullptr).ok);

  OtaOptions full = Quick();
  full.sink = [](std::string_view) { return false; };
  r = RunOtaDownload(PackageOf(server.bytes), full, server.Fetcher(), server.Reporter());
  CHECK(r.step == -4);
  CHECK(r.bytes == 0);
}

TEST_CASE("OTA download: a short answer is asked again, never accepted", "[device][ota]") {
  Server server(Bytes(2000));
  int calls = 0;
  OtaFetcher short_once = [&](std::uint64_t first, std::uint64_t last) {
    OtaFetch f;
    f.status = 206;
    f.body = server.bytes.substr(first, last - first + 1);
    if (calls++ == 0) {
      f.body.resize(10);
    }
    return f;
  };
  OtaResult r = RunOtaDownload(PackageOf(server.bytes), Quick(), short_once, nullptr);
  CHECK(r.ok);
  CHECK(r.requests == 3);
}

TEST_CASE("OTA upgrade: a link that is not http(s) fails as a download failure", "[device][ota]") {
  auto package = PackageOf("abc");
  package.url = "ftp-nowhere";
  OtaResult r = RunOtaUpgrade(nullptr, package, Quick());
  CHECK(r.step == -2);
  CHECK(r.desc.rfind("bad url", 0) == 0);
}

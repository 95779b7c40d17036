#include "iot/device/ota.hpp"

#include <algorithm>
#include <stdexcept>

#include "iot/common/digest.hpp"
#include "iot/device/device.hpp"
#include "iot/http/client.hpp"

namespace iot::device {
namespace {

// "http://host:port" and "/path?query" of a link.
std::pair<std::string, std::string> SplitLink(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (slash == std::string::npos) {
    return {url, "/"};
  }
  return {url.substr(0, slash), url.substr(slash)};
}

OtaResult Fail(Device* device, const alink::OtaPackage& package, OtaResult result, int step, std::string desc) {
  result.ok = false;
  result.step = step;
  result.desc = std::move(desc);
  if (device != nullptr) {
    device->ReportOtaProgress(step, result.desc, package.module);
  }
  return result;
}

}  // namespace

OtaResult RunOtaUpgrade(Device* device, const alink::OtaPackage& package, const OtaOptions& options) {
  OtaResult result;
  auto report = [&](int step, std::string_view desc) {
    if (device != nullptr) {
      device->ReportOtaProgress(step, desc, package.module);
    }
  };
  iot::http::Url base;
  std::string target;
  try {
    auto [origin, path] = SplitLink(package.url);
    base = iot::http::ParseUrl(origin);
    target = std::move(path);
  } catch (const std::exception& e) {
    return Fail(device, package, result, alink::kOtaDownloadFailed, std::string("bad url: ") + e.what());
  }
  iot::http::ClientOptions http;
  http.ca_file = options.ca_file;
  http.timeout = options.request_timeout;
  http.max_body_bytes = options.piece_bytes + 1024;

  report(1, "downloading");
  PackageDigest digest;
  const auto size = static_cast<std::uint64_t>(std::max<std::int64_t>(package.size, 0));
  const std::uint64_t piece = std::max<std::size_t>(options.piece_bytes, 1);
  std::uint64_t offset = 0;
  int next_report = options.progress_every;
  bool cut_done = false;
  while (offset < size) {
    const std::uint64_t last = std::min(size, offset + piece) - 1;
    std::string bytes;
    std::string problem;
    for (int attempt = 1; attempt <= std::max(options.attempts, 1); ++attempt) {
      try {
        auto response = iot::http::Request(
            base, "GET", target,
            {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(last)}}, "", http);
        if (response.status == 206 && response.body.size() == last - offset + 1) {
          bytes = std::move(response.body);
          break;
        }
        problem = "HTTP " + std::to_string(response.status) + " for bytes " + std::to_string(offset) + "-" +
                  std::to_string(last);
        if (response.status == 403 || response.status == 404 || response.status == 410 ||
            response.status == 416) {
          break;  // the link will not get better by asking again
        }
      } catch (const std::exception& e) {
        problem = e.what();
      }
      ++result.resumed_requests;
    }
    if (bytes.empty()) {
      return Fail(device, package, result, alink::kOtaDownloadFailed, "download failed: " + problem);
    }
    if (!cut_done && options.cut_at >= 0 && static_cast<std::uint64_t>(options.cut_at) >= offset &&
        static_cast<std::uint64_t>(options.cut_at) <= last) {
      // The connection "broke" inside this piece: keep what arrived before the cut and resume there.
      cut_done = true;
      bytes.resize(static_cast<std::size_t>(options.cut_at - static_cast<std::int64_t>(offset)));
      ++result.resumed_requests;
    }
    if (options.corrupt && offset == 0 && !bytes.empty()) {
      bytes[0] = static_cast<char>(bytes[0] ^ 0x5a);
    }
    digest.Update(bytes);
    if (options.sink && !bytes.empty() && !options.sink(bytes)) {
      return Fail(device, package, result, alink::kOtaFlashFailed, "the package could not be stored");
    }
    offset += bytes.size();
    result.bytes = static_cast<std::int64_t>(offset);
    const int percent = static_cast<int>(offset * 100 / size);
    if (options.progress_every > 0 && percent >= next_report && percent < 100) {
      report(percent, "downloading");
      next_report = (percent / options.progress_every + 1) * options.progress_every;
    }
  }
  if (digest.Md5Hex() != package.md5 && !package.md5.empty()) {
    return Fail(device, package, result, alink::kOtaVerifyFailed, "md5 mismatch");
  }
  const std::string signed_digest = package.sign_method == "Md5" ? digest.Md5Hex() : digest.Sha256Hex();
  if (!package.sign.empty() && signed_digest != package.sign) {
    return Fail(device, package, result, alink::kOtaVerifyFailed, package.sign_method + " sign mismatch");
  }
  report(100, "verified");
  result.ok = true;
  result.step = 100;
  return result;
}

}  // namespace iot::device

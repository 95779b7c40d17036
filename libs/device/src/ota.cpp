#include "iot/device/ota.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>
#include <utility>

#include "iot/common/digest.hpp"
#include "iot/device/device.hpp"
#include "iot/http/client.hpp"

namespace iot::device {
namespace {

// "http://host:port" and "/path?query" of a link.
std::pair<std::string, std::string> SplitLink(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    throw std::invalid_argument("not an http(s) link");
  }
  const auto slash = url.find('/', scheme + 3);
  if (slash == std::string::npos) {
    return {url, "/"};
  }
  return {url.substr(0, slash), url.substr(slash)};
}

OtaResult Fail(const OtaReporter& report, OtaResult result, int step, std::string desc) {
  result.ok = false;
  result.step = step;
  result.desc = std::move(desc);
  if (report) {
    report(step, result.desc);
  }
  return result;
}

bool Permanent(int status) { return status == 403 || status == 404 || status == 410 || status == 416; }

}  // namespace

OtaResult RunOtaDownload(const alink::OtaPackage& package, const OtaOptions& options, const OtaFetcher& fetch,
                         const OtaReporter& report) {
  OtaResult result;
  auto progress = [&](int step, std::string_view desc) {
    if (report) {
      report(step, desc);
    }
  };
  if (package.size < 0) {
    return Fail(report, result, alink::kOtaDownloadFailed, "bad package size");
  }
  progress(1, "downloading");
  PackageDigest digest;
  const auto size = static_cast<std::uint64_t>(package.size);
  const std::uint64_t piece = std::max<std::size_t>(options.piece_bytes, 1);
  std::uint64_t offset = 0;
  int next_report = options.progress_every;
  bool cut_done = false;
  while (offset < size) {
    const std::uint64_t last = std::min(size, offset + piece) - 1;
    const std::uint64_t wanted = last - offset + 1;
    std::string bytes;
    std::string problem;
    auto delay = options.retry_delay;
    const int attempts = std::max(options.attempts, 1);
    for (int attempt = 1; attempt <= attempts; ++attempt) {
      if (attempt > 1) {
        ++result.resumed_requests;
        if (delay.count() > 0) {
          std::this_thread::sleep_for(delay);
          delay *= 2;
        }
      }
      ++result.requests;
      OtaFetch got = fetch(offset, last);
      if (!got.error.empty()) {
        problem = got.error;
        continue;
      }
      if (got.status == 206 && got.body.size() == wanted) {
        bytes = std::move(got.body);
        break;
      }
      if (got.status == 200 && got.body.size() == size) {  // Range ignored: the whole package came
        bytes = got.body.substr(static_cast<std::size_t>(offset), static_cast<std::size_t>(wanted));
        break;
      }
      problem = "HTTP " + std::to_string(got.status) + " for bytes " + std::to_string(offset) + "-" +
                std::to_string(last) +
                (got.status == 206 || got.status == 200 ? " (" + std::to_string(got.body.size()) + " bytes)"
                                                        : std::string());
      if (Permanent(got.status)) {
        break;  // the link will not get better by asking again
      }
    }
    if (bytes.empty()) {
      return Fail(report, result, alink::kOtaDownloadFailed, "download failed: " + problem);
    }
    if (!cut_done && options.cut_at >= 0 && static_cast<std::uint64_t>(options.cut_at) > offset &&
        static_cast<std::uint64_t>(options.cut_at) <= last) {
      // The connection "broke" inside this piece: keep what arrived before the cut, resume there.
      cut_done = true;
      bytes.resize(static_cast<std::size_t>(static_cast<std::uint64_t>(options.cut_at) - offset));
      ++result.resumed_requests;
    }
    if (options.corrupt && offset == 0) {
      bytes[0] = static_cast<char>(bytes[0] ^ 0x5a);
    }
    digest.Update(bytes);
    if (options.sink && !options.sink(bytes)) {
      return Fail(report, result, alink::kOtaFlashFailed, "the package could not be stored");
    }
    offset += bytes.size();
    result.bytes = static_cast<std::int64_t>(offset);
    const int percent = static_cast<int>(offset * 100 / size);
    if (options.progress_every > 0 && percent >= next_report && percent < 100) {
      progress(percent, "downloading");
      next_report = (percent / options.progress_every + 1) * options.progress_every;
    }
  }
  if (!package.md5.empty() && digest.Md5Hex() != package.md5) {
    return Fail(report, result, alink::kOtaVerifyFailed, "md5 mismatch");
  }
  const std::string signed_digest = package.sign_method == "Md5" ? digest.Md5Hex() : digest.Sha256Hex();
  if (!package.sign.empty() && signed_digest != package.sign) {
    return Fail(report, result, alink::kOtaVerifyFailed, package.sign_method + " sign mismatch");
  }
  progress(100, "verified");
  result.ok = true;
  result.step = 100;
  return result;
}

OtaResult RunOtaUpgrade(Device* device, const alink::OtaPackage& package, const OtaOptions& options) {
  OtaReporter report = [&](int step, std::string_view desc) {
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
    return Fail(report, OtaResult{}, alink::kOtaDownloadFailed, std::string("bad url: ") + e.what());
  }
  iot::http::ClientOptions http;
  http.ca_file = options.ca_file;
  http.timeout = options.request_timeout;
  http.max_body_bytes = std::max<std::size_t>(options.piece_bytes, 1) + 1024;
  OtaFetcher fetch = [&](std::uint64_t first, std::uint64_t last) {
    OtaFetch got;
    try {
      auto response = iot::http::Request(
          base, "GET", target, {{"Range", "bytes=" + std::to_string(first) + "-" + std::to_string(last)}}, "",
          http);
      got.status = response.status;
      got.body = std::move(response.body);
    } catch (const std::exception& e) {
      got.error = e.what();
      if (got.error.empty()) {
        got.error = "request failed";
      }
    }
    return got;
  };
  return RunOtaDownload(package, options, fetch, report);
}

}  // namespace iot::device

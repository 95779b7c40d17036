#pragma once

// The device side of an OTA upgrade (reference §2.16), for a push received with Device::OnOtaPush:
//
//   device.OnOtaPush([&](const alink::OtaPackage& p) {
//     OtaOptions o;
//     o.sink = [&](std::string_view bytes) { return flash.Write(bytes); };
//     OtaResult r = RunOtaUpgrade(&device, p, o);
//     if (r.ok) { /* reboot into it, then */ device.InformVersion(p.version, p.module); }
//   });
//
// The package is fetched over HTTP(S) in byte ranges (Range: bytes=a-b, one request per piece), so a
// cut download resumes from the last byte received instead of starting over; its size, MD5 and the
// signed digest (SHA-256 or MD5, per signMethod) are checked as the bytes arrive. A piece that fails
// is asked again after a pause (retry_delay, doubling), so a download outlives a restart of the
// server. Progress goes to the platform on /ota/device/progress: 1 at the start, every
// `progress_every` percent while downloading, 100 once verified, and on failure Alibaba's steps
// (-2 download failed, -3 verify failed, -4 flash failed) with a description.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "iot/alink/ota.hpp"

namespace iot::device {

class Device;

struct OtaOptions {
  // Where the downloaded bytes go, in order (false aborts the upgrade as -4 flash failed). The bytes
  // of a piece are handed over once the piece arrived whole; they are verified only at the end, so
  // the sink must not activate them before RunOtaUpgrade returned ok.
  std::function<bool(std::string_view bytes)> sink;
  std::string ca_file;                               // https links: the CA to trust (else the system's)
  std::chrono::milliseconds request_timeout{30000};  // one piece
  std::size_t piece_bytes = 256 * 1024;              // bytes asked for per request
  int attempts = 5;                                  // per piece, before the download fails (-2)
  std::chrono::milliseconds retry_delay{500};        // before the 2nd attempt of a piece, doubling after
  int progress_every = 25;                           // percent between progress reports (0: none)
  // Test and simulation hooks: keep only the bytes before this offset of the piece holding it (as if
  // the connection had been cut there; the next request resumes from that byte), and change a byte
  // before it is verified (a corrupted package, reported -3).
  std::int64_t cut_at = -1;
  bool corrupt = false;
};

struct OtaResult {
  bool ok = false;
  int step = 0;  // 100 on success, else the failure step reported (-2, -3 or -4)
  std::string desc;
  std::int64_t bytes = 0;    // received and accepted
  int requests = 0;          // HTTP requests made
  int resumed_requests = 0;  // requests that continued after a cut or a failed piece
};

// One ranged request's outcome: `status` 206 with the bytes first..last, 200 with the whole package
// (a server that ignores Range), anything else a refusal; `error` non-empty when no answer came.
struct OtaFetch {
  int status = 0;
  std::string body;
  std::string error;
};
// Fetches bytes first..last (inclusive) of the package.
using OtaFetcher = std::function<OtaFetch(std::uint64_t first, std::uint64_t last)>;
// Reports a progress step (1..100, -1..-4) with its description.
using OtaReporter = std::function<void(int step, std::string_view desc)>;

// Downloads and verifies `package`, reporting progress through `device` (when not null). Blocks the
// calling thread (a Runtime worker in a push handler) for the whole download. Does not inform the new
// version: the caller does, once it runs it.
OtaResult RunOtaUpgrade(Device* device, const alink::OtaPackage& package, const OtaOptions& options);

// The same with the transport and the reports given (RunOtaUpgrade uses libs/http's client and the
// device's /ota/device/progress): the pure part, resumption, verification and progress steps.
OtaResult RunOtaDownload(const alink::OtaPackage& package, const OtaOptions& options, const OtaFetcher& fetch,
                         const OtaReporter& report);

}  // namespace iot::device

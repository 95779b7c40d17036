#pragma once

#include <string>
#include <vector>

namespace iot::loadgen {

struct DeviceCredentials {
  std::string product_key;
  std::string device_name;
  std::string secret;
};

// A CSV file with one `pk,dn,secret` line per device; a first line starting with "pk," or lines
// starting with '#' are skipped. Returns false with `error` set on an unreadable file or a bad line.
bool LoadDevicesCsv(const std::string& path, std::vector<DeviceCredentials>& out, std::string& error);

// `count` devices of one product named `{prefix}{first..first+count-1}` (zero-padded to 6 digits), all
// with `secret_format`, where "{dn}" is replaced by the device name (a shared secret pattern).
std::vector<DeviceCredentials> GenerateDevices(const std::string& product_key, const std::string& prefix,
                                               int first, int count, const std::string& secret_format);

}  // namespace iot::loadgen

#include "devices.hpp"

#include <cstdio>
#include <fstream>

namespace iot::loadgen {

bool LoadDevicesCsv(const std::string& path, std::vector<DeviceCredentials>& out, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read " + path;
    return false;
  }
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty() || line[0] == '#' || (line_no == 1 && line.rfind("pk,", 0) == 0)) {
      continue;
    }
    const auto a = line.find(',');
    const auto b = a == std::string::npos ? std::string::npos : line.find(',', a + 1);
    if (b == std::string::npos || a == 0 || b == a + 1 || b + 1 >= line.size()) {
      error = path + ":" + std::to_string(line_no) + ": expected pk,dn,secret";
      return false;
    }
    out.push_back({line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)});
  }
  return true;
}

std::vector<DeviceCredentials> GenerateDevices(const std::string& product_key, const std::string& prefix,
                                               int first, int count, const std::string& secret_format) {
  std::vector<DeviceCredentials> out;
  out.reserve(static_cast<std::size_t>(count));
  for (int i = first; i < first + count; ++i) {
    char num[16];
    std::snprintf(num, sizeof num, "%06d", i);
    DeviceCredentials d{product_key, prefix + num, secret_format};
    for (auto pos = d.secret.find("{dn}"); pos != std::string::npos; pos = d.secret.find("{dn}", pos)) {
      d.secret.replace(pos, 4, d.device_name);
      pos += d.device_name.size();
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace iot::loadgen

#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace iot::devsim {

struct Options {
  std::string api_url = "http://127.0.0.1:8080";  // or https://
  std::string api_ca_file;  // CA of an https:// API (default: ca_file, else the system's)
  std::string token;        // --token or IOT_ADMIN_TOKEN
  std::string product_key;
  std::size_t devices = 10;
  std::string prefix = "sim-";   // device names: {prefix}{0001..}
  std::string credentials_file;  // read if it exists; else devices are registered and saved there
  std::string model_file;        // a TSL file instead of the published thing model
  std::string mqtt_uri = "tcp://127.0.0.1:1883";
  std::string ca_file;
  double rate = 10;  // posts per second, all devices together (workload random)
  // Workload: "random" posts K random properties with random values at `rate`, turn by turn; "sensor"
  // gives every device its own period (log-uniform in [period_min_s, period_max_s]) and fixed set of K
  // properties whose values move little between posts (SensorValues).
  std::string workload = "random";
  double period_min_s = 1;
  double period_max_s = 60;
  double duration_s = 10;
  double event_share = 0.1;  // share of posts that are events (when the model has events)
  double invalid_share = 0;  // share of posts with one invalid value
  std::size_t properties_per_post = 5;
  std::chrono::milliseconds answer_delay{0};  // before answering property sets and services
  int qos = 1;
  std::size_t window = 32;  // per device
  std::chrono::milliseconds reply_timeout{3000};
  int workers = 2;
  std::uint64_t seed = 1;
  bool json = false;
  bool progress = true;
  std::chrono::seconds connect_timeout{30};
  // Gateway mode (--gateway-product): one gateway device of this product, named {prefix}gw (registered,
  // or read from --credentials, like the others), carries the --devices sub-devices over its one
  // connection: topology add, batch login, their posts on their own topics, their downlinks.
  std::string gateway_product;
  // OTA: with a firmware version, every device informs it once connected and upgrades on a push
  // (download with Range, verify, progress, inform the new version); this share of the upgrades
  // fail verification (the package arrives corrupted: step -3), this share of the downloads are cut
  // once and resumed.
  std::string firmware_version;
  double ota_fail_share = 0;
  double ota_cut_share = 0;
};

// A gateway holds at most this many sub-devices (the platform's topology limit).
inline constexpr std::size_t kMaxGatewaySubDevices = 1500;

// Parses argv (after the program name) with the platform's command-line library (libs/cli). Throws
// std::invalid_argument with a message naming the option for unknown options, missing or malformed
// values. --help and --version set `print` to what to print (and nothing is checked).
Options ParseOptions(const std::vector<std::string>& args, const std::string& env_token, std::string& print);

std::string Usage();

}  // namespace iot::devsim

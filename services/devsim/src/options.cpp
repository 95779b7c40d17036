#include "options.hpp"

#include <sstream>
#include <stdexcept>

#include "iot/cli/command_line.hpp"

namespace iot::devsim {
namespace {

namespace po = boost::program_options;

// A value of type T (parsed by Program_options) checked against [min, max] and stored in `out`.
template <class T, class Out>
po::typed_value<T>* InRange(const char* option, T min, T max, Out& out) {
  return po::value<T>()->notifier([option, min, max, &out](T v) {
    if (v < min || v > max) {
      std::ostringstream text;
      text << option << " needs a value from " << min << " to " << max << ", got " << v;
      throw po::error(text.str());
    }
    out = static_cast<Out>(v);
  });
}

cli::CommandLine MakeCommandLine(Options& o) {
  cli::CommandLine line(
      "iot-devsim", "iot-devsim --product PK [options]",
      "Simulates devices of a product: registers them through the REST API (or reads their "
      "credentials),\nfetches the published thing model, posts properties and events at a fixed "
      "total rate and answers\nproperty sets and services. Ends with a summary (--json for "
      "machines).");
  line.Options()(
      "api", po::value(&o.api_url)->value_name("URL"),
      "REST API base (http://127.0.0.1:8080; https://host:8443 verifies the server's certificate)")(
      "api-ca", po::value(&o.api_ca_file)->value_name("FILE"),
      "CA certificate for an https:// API (default: --ca's, else the system's CAs)")(
      "token", po::value(&o.token)->value_name("TOKEN"), "admin token (default: $IOT_ADMIN_TOKEN)")(
      "product", po::value(&o.product_key)->value_name("PK")->required(), "product key (required)")(
      "devices", InRange<long long>("--devices", 1, 100000, o.devices)->value_name("N"),
      "devices to simulate (10)")("prefix", po::value(&o.prefix)->value_name("TEXT"),
                                  "device name prefix (sim-): names are PREFIX0001, PREFIX0002, ...")(
      "credentials", po::value(&o.credentials_file)->value_name("FILE"),
      "JSON [{\"productKey\",\"deviceName\",\"deviceSecret\"}]: read when it exists, otherwise written after "
      "registering the devices")("model", po::value(&o.model_file)->value_name("FILE"),
                                 "TSL document to use instead of the published thing model")(
      "mqtt", po::value(&o.mqtt_uri)->value_name("URI"),
      "broker (tcp://127.0.0.1:1883; ssl://host:8883 with --ca)")(
      "ca", po::value(&o.ca_file)->value_name("FILE"),
      "CA certificate for ssl:// (and https:// without --api-ca)")(
      "rate", InRange<double>("--rate", 0.001, 1e6, o.rate)->value_name("R"),
      "posts per second, all devices together (10; --workload random)")(
      "workload", po::value(&o.workload)->value_name("random|sensor"),
      "random: --rate posts of random properties and values, device after device; sensor: each device "
      "posts its own K properties every --period seconds, values moving little between posts (random)")(
      "period", po::value<std::string>()->value_name("MIN:MAX")->notifier([&o](const std::string& v) {
        const auto colon = v.find(':');
        try {
          std::size_t used = 0;
          o.period_min_s = std::stod(v.substr(0, colon), &used);
          o.period_max_s = colon == std::string::npos ? o.period_min_s : std::stod(v.substr(colon + 1));
        } catch (const std::exception&) {
          throw po::error("--period needs MIN:MAX seconds, e.g. 1:60");
        }
        if (!(o.period_min_s >= 0.01 && o.period_max_s >= o.period_min_s && o.period_max_s <= 86400)) {
          throw po::error("--period needs 0.01 <= MIN <= MAX <= 86400 seconds");
        }
      }),
      "sensor workload: each device's period, log-uniform from MIN to MAX seconds (1:60)")(
      "duration", InRange<double>("--duration", 0, 1e7, o.duration_s)->value_name("S"),
      "seconds of posting (10)")("events",
                                 InRange<double>("--events", 0, 1, o.event_share)->value_name("SHARE"),
                                 "share of posts that are events, 0..1 (0.1)")(
      "invalid", InRange<double>("--invalid", 0, 1, o.invalid_share)->value_name("SHARE"),
      "share of posts carrying one invalid value, 0..1 (0)")(
      "properties", InRange<long long>("--properties", 1, 200, o.properties_per_post)->value_name("K"),
      "properties per post (5)")("answer-delay-ms",
                                 po::value<long long>()->value_name("MS")->notifier([&o](long long v) {
                                   if (v < 0 || v > 600000) {
                                     throw po::error("--answer-delay-ms needs a value from 0 to 600000");
                                   }
                                   o.answer_delay = std::chrono::milliseconds(v);
                                 }),
                                 "delay before answering property sets and services (0)")(
      "qos", InRange<int>("--qos", 0, 1, o.qos)->value_name("0|1"), "QoS of the posts (1)")(
      "window", InRange<long long>("--window", 1, 10000, o.window)->value_name("N"),
      "requests in flight per device (32)")(
      "reply-timeout-ms", po::value<long long>()->value_name("MS")->notifier([&o](long long v) {
        if (v < 10 || v > 600000) {
          throw po::error("--reply-timeout-ms needs a value from 10 to 600000");
        }
        o.reply_timeout = std::chrono::milliseconds(v);
      }),
      "resend a post unanswered for this long (3000)")(
      "workers", InRange<int>("--workers", 1, 64, o.workers)->value_name("N"), "SDK worker threads (2)")(
      "firmware-version", po::value(&o.firmware_version)->value_name("V"),
      "OTA: inform this version once connected and upgrade on pushes (none: no OTA)")(
      "ota-fail-rate", InRange<double>("--ota-fail-rate", 0, 1, o.ota_fail_share)->value_name("SHARE"),
      "OTA: share of upgrades whose package arrives corrupted (reported -3) (0)")(
      "ota-cut-rate", InRange<double>("--ota-cut-rate", 0, 1, o.ota_cut_share)->value_name("SHARE"),
      "OTA: share of downloads cut half-way once and resumed with Range (0)")(
      "seed", po::value(&o.seed)->value_name("N"), "random seed (1)")("json", po::bool_switch(&o.json),
                                                                      "print the summary as JSON on stdout")(
      "no-progress", po::bool_switch()->notifier([&o](bool v) { o.progress = !v; }),
      "no live progress line on stderr")(
      "gateway-product", po::value(&o.gateway_product)->value_name("PK"),
      "simulate one gateway of this product (named PREFIXgw) carrying the --devices devices as its "
      "sub-devices over its one connection (at most 1500)");
  return line;
}

}  // namespace

std::string Usage() {
  Options o;
  return MakeCommandLine(o).Help();
}

Options ParseOptions(const std::vector<std::string>& args, const std::string& env_token, std::string& print) {
  Options o;
  o.token = env_token;
  print.clear();
  cli::CommandLine line = MakeCommandLine(o);
  std::vector<const char*> argv{"iot-devsim"};
  for (const auto& a : args) {
    argv.push_back(a.c_str());
  }
  std::ostringstream out;
  std::ostringstream err;
  if (auto exit_code = line.Parse(static_cast<int>(argv.size()), argv.data(), out, err)) {
    if (*exit_code == 0) {
      print = out.str();
      return o;
    }
    std::string text = err.str();
    text = text.substr(0, text.find('\n'));
    if (text.starts_with("iot-devsim: ")) {
      text.erase(0, 12);
    }
    throw std::invalid_argument(text);
  }
  if (!o.gateway_product.empty() && o.devices > kMaxGatewaySubDevices) {
    throw std::invalid_argument("--gateway-product: a gateway carries at most 1500 sub-devices (--devices)");
  }
  if (!o.gateway_product.empty() && !o.firmware_version.empty()) {
    throw std::invalid_argument(
        "--firmware-version: OTA is simulated for direct devices only, not with --gateway-product");
  }
  if (o.firmware_version.empty() && (o.ota_fail_share > 0 || o.ota_cut_share > 0)) {
    throw std::invalid_argument("--ota-fail-rate and --ota-cut-rate need --firmware-version");
  }
  if (o.workload != "random" && o.workload != "sensor") {
    throw std::invalid_argument("--workload needs random or sensor, got " + o.workload);
  }
  if (o.token.empty() && (o.credentials_file.empty() || o.model_file.empty())) {
    throw std::invalid_argument(
        "a token is needed to register devices and fetch the thing model: --token or "
        "IOT_ADMIN_TOKEN (or both --credentials with an existing file and --model)");
  }
  return o;
}

}  // namespace iot::devsim

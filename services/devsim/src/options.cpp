#include "options.hpp"

#include <charconv>
#include <functional>
#include <map>
#include <stdexcept>

namespace iot::devsim {
namespace {

double Number(const std::string& option, const std::string& text, double min, double max) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    throw std::invalid_argument(option + " needs a number from " + std::to_string(min) + " to " +
                                std::to_string(max) + ", got \"" + text + "\"");
  }
  return v;
}

std::size_t Count(const std::string& option, const std::string& text, std::size_t min,
                  std::size_t max) {
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) {
    throw std::invalid_argument(option + " needs an integer from " + std::to_string(min) + " to " +
                                std::to_string(max) + ", got \"" + text + "\"");
  }
  return v;
}

}  // namespace

std::string Usage() {
  return R"(usage: iot-devsim --product PK [options]
Simulates devices of a product: registers them through the REST API (or reads their credentials),
fetches the published thing model, posts properties and events at a fixed total rate and answers
property sets and services. Ends with a summary (--json for machines).

  --api URL              REST API base (http://127.0.0.1:8080)
  --token TOKEN          admin token (default: $IOT_ADMIN_TOKEN)
  --product PK           product key (required)
  --devices N            devices to simulate (10)
  --prefix TEXT          device name prefix (sim-): names are PREFIX0001, PREFIX0002, ...
  --credentials FILE     JSON [{"productKey","deviceName","deviceSecret"}]: read when it exists,
                         otherwise written after registering the devices
  --model FILE           TSL document to use instead of the published thing model
  --mqtt URI             broker (tcp://127.0.0.1:1883; ssl://host:8883 with --ca)
  --ca FILE              CA certificate for ssl://
  --rate R               posts per second, all devices together (10)
  --duration S           seconds of posting (10)
  --events SHARE         share of posts that are events, 0..1 (0.1)
  --invalid SHARE        share of posts carrying one invalid value, 0..1 (0)
  --properties K         properties per post (5)
  --answer-delay-ms MS   delay before answering property sets and services (0)
  --qos 0|1              QoS of the posts (1)
  --window N             requests in flight per device (32)
  --reply-timeout-ms MS  resend a post unanswered for this long (3000)
  --workers N            SDK worker threads (2)
  --seed N               random seed (1)
  --json                 print the summary as JSON on stdout
  --no-progress          no live progress line on stderr
)";
}

Options ParseOptions(const std::vector<std::string>& args, const std::string& env_token, bool& help) {
  Options o;
  o.token = env_token;
  help = false;
  using Setter = std::function<void(const std::string&)>;
  const std::map<std::string, Setter> with_value = {
      {"--api", [&](const std::string& v) { o.api_url = v; }},
      {"--token", [&](const std::string& v) { o.token = v; }},
      {"--product", [&](const std::string& v) { o.product_key = v; }},
      {"--devices", [&](const std::string& v) { o.devices = Count("--devices", v, 1, 100000); }},
      {"--prefix", [&](const std::string& v) { o.prefix = v; }},
      {"--credentials", [&](const std::string& v) { o.credentials_file = v; }},
      {"--model", [&](const std::string& v) { o.model_file = v; }},
      {"--mqtt", [&](const std::string& v) { o.mqtt_uri = v; }},
      {"--ca", [&](const std::string& v) { o.ca_file = v; }},
      {"--rate", [&](const std::string& v) { o.rate = Number("--rate", v, 0.001, 1e6); }},
      {"--duration", [&](const std::string& v) { o.duration_s = Number("--duration", v, 0, 1e7); }},
      {"--events", [&](const std::string& v) { o.event_share = Number("--events", v, 0, 1); }},
      {"--invalid", [&](const std::string& v) { o.invalid_share = Number("--invalid", v, 0, 1); }},
      {"--properties",
       [&](const std::string& v) { o.properties_per_post = Count("--properties", v, 1, 200); }},
      {"--answer-delay-ms",
       [&](const std::string& v) {
         o.answer_delay = std::chrono::milliseconds(Count("--answer-delay-ms", v, 0, 600000));
       }},
      {"--qos", [&](const std::string& v) { o.qos = static_cast<int>(Count("--qos", v, 0, 1)); }},
      {"--window", [&](const std::string& v) { o.window = Count("--window", v, 1, 10000); }},
      {"--reply-timeout-ms",
       [&](const std::string& v) {
         o.reply_timeout = std::chrono::milliseconds(Count("--reply-timeout-ms", v, 10, 600000));
       }},
      {"--workers", [&](const std::string& v) { o.workers = static_cast<int>(Count("--workers", v, 1, 64)); }},
      {"--seed", [&](const std::string& v) { o.seed = Count("--seed", v, 0, SIZE_MAX); }},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help = true;
      return o;
    }
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (a == "--no-progress") {
      o.progress = false;
      continue;
    }
    std::string name = a;
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      has_value = true;
    }
    auto it = with_value.find(name);
    if (it == with_value.end()) throw std::invalid_argument("unknown option " + a);
    if (!has_value) {
      if (i + 1 >= args.size()) throw std::invalid_argument(name + " needs a value");
      value = args[++i];
    }
    it->second(value);
  }
  if (o.product_key.empty()) throw std::invalid_argument("--product is required");
  if (o.token.empty() && (o.credentials_file.empty() || o.model_file.empty())) {
    throw std::invalid_argument(
        "a token is needed to register devices and fetch the thing model: --token or "
        "IOT_ADMIN_TOKEN (or both --credentials with an existing file and --model)");
  }
  return o;
}

}  // namespace iot::devsim

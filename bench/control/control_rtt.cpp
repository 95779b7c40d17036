// iot-control-bench: the sync service round trip REST -> iot-api -> broker -> device -> broker ->
// iot-api -> REST, at a fixed rate (open loop: latency counts from each call's scheduled start, so a
// stalled platform cannot hide behind a slow client). The simulated devices answer every RRPC request
// at once and measure their own handling time (receive -> reply handed to the client), which is
// subtracted to give the platform's overhead. Run by bench/control_rtt.sh; a benchmark, never a test.
//
//   iot-control-bench --api-port P --token T --mqtt-uri tcp://127.0.0.1:1883 --product PK --secret S
//                     --devices dev-0,dev-1 --rate 200 --seconds 30 --concurrency 16

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>

#include "iot/alink/credentials.hpp"
#include "iot/cli/command_line.hpp"
#include "iot/testing/http_client.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;
namespace alink = iot::alink;

struct Options {
  int api_port = 0;
  std::string token;
  std::string mqtt_uri;
  std::string product;
  std::string secret;
  std::vector<std::string> devices;
  double rate = 200;
  int seconds = 30;
  int warmup_seconds = 3;
  int concurrency = 16;
  std::string service = "SelfTest";
  std::string params = R"({"Depth":0})";
  std::string reply = R"({"Passed":1,"Report":"ok"})";
};

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) {
      comma = text.size();
    }
    if (comma > start) {
      out.push_back(text.substr(start, comma - start));
    }
    start = comma + 1;
  }
  return out;
}

// The command line; returns the exit code when main should end (--help, --version, a bad argument).
std::optional<int> Parse(int argc, char** argv, Options& o) {
  namespace po = iot::cli::po;
  std::string devices;
  iot::cli::CommandLine line(
      "iot-control-bench",
      "iot-control-bench --api-port P --token T --mqtt-uri URI --product PK --secret S "
      "--devices DN,DN [options]",
      "Sync service round trips through the whole platform (bench/control_rtt.sh).");
  line.Options()("api-port", po::value(&o.api_port)->required(), "iot-api's HTTP port")(
      "token", po::value(&o.token)->required(), "API token")("mqtt-uri", po::value(&o.mqtt_uri)->required(),
                                                             "broker the simulated devices connect to")(
      "product", po::value(&o.product)->required(), "product key")(
      "secret", po::value(&o.secret), "device secret (the same for every device)")(
      "devices", po::value(&devices)->required(), "device names, comma-separated")("rate", po::value(&o.rate),
                                                                                   "calls per second (200)")(
      "seconds", po::value(&o.seconds), "seconds measured (30)")("warmup", po::value(&o.warmup_seconds),
                                                                 "seconds of calls before (3)")(
      "concurrency", po::value(&o.concurrency), "calls in flight at most (16)")(
      "service", po::value(&o.service), "service identifier (SelfTest)")(
      "params", po::value(&o.params), "the call's params, JSON")("reply", po::value(&o.reply),
                                                                 "the devices' answer, JSON");
  if (auto exit_code = line.Parse(argc, argv)) {
    return exit_code;
  }
  o.devices = Split(devices);
  if (o.api_port == 0 || o.devices.empty()) {
    std::cerr << "iot-control-bench: --api-port and --devices need a value\n";
    return 2;
  }
  return std::nullopt;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  const auto index = static_cast<std::size_t>(p / 100.0 * double(v.size() - 1) + 0.5);
  return v[std::min(index, v.size() - 1)];
}

// A device that answers every RRPC request at once, recording its own handling time.
class Responder {
 public:
  Responder(const Options& o, const std::string& dn, const std::string& reply_data)
      : params_(alink::MakeConnectParams(o.product, dn, o.secret, alink::SignMethod::kHmacSha256,
                                         "2524608000000")),
        client_(o.mqtt_uri, params_.client_id),
        reply_data_(json::parse(reply_data)) {
    const auto& params = params_;
    client_.set_message_callback([this](mqtt::const_message_ptr msg) {
      const auto received = Clock::now();
      const std::string& topic = msg->get_topic();
      const auto slash = topic.rfind('/');
      json request = json::parse(msg->get_payload_str(), nullptr, false);
      if (request.is_discarded() || slash == std::string::npos) {
        return;
      }
      std::string response_topic = topic;
      response_topic.replace(response_topic.find("/rrpc/request/"), 14, "/rrpc/response/");
      json reply = {{"id", request.value("id", "")}, {"code", 200}, {"data", reply_data_}};
      client_.publish(response_topic, reply.dump(), 0, false);
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - received).count();
      std::lock_guard lock(mutex_);
      handling_us_.push_back(us);
    });
    auto options = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(true)
                       .keep_alive_interval(std::chrono::seconds(60))
                       .user_name(params.username)
                       .password(params.password)
                       .finalize();
    client_.connect(options)->wait();
    client_.subscribe("/sys/" + o.product + "/" + dn + "/rrpc/request/+", 0)->wait();
  }
  ~Responder() {
    try {
      client_.disconnect()->wait_for(std::chrono::seconds(2));
    } catch (...) {
    }
  }
  std::vector<double> Take() {
    std::lock_guard lock(mutex_);
    return std::move(handling_us_);
  }

 private:
  alink::ConnectParams params_;
  mqtt::async_client client_;
  json reply_data_;
  std::mutex mutex_;
  std::vector<double> handling_us_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (auto exit_code = Parse(argc, argv, o)) {
    return *exit_code;
  }
  std::vector<std::unique_ptr<Responder>> devices;
  for (const auto& dn : o.devices) {
    devices.push_back(std::make_unique<Responder>(o, dn, o.reply));
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // the API sees them online

  // Open loop: call i is due at start + i / rate; workers take the next due call.
  const std::int64_t warmup_calls = static_cast<std::int64_t>(o.rate * o.warmup_seconds);
  const std::int64_t total = warmup_calls + static_cast<std::int64_t>(o.rate * o.seconds);
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  std::atomic<std::int64_t> next{0};
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::map<int, std::int64_t> statuses;
  std::vector<std::thread> workers;
  for (int w = 0; w < o.concurrency; ++w) {
    workers.emplace_back([&] {
      iot::testing::HttpClient http(o.api_port, std::chrono::seconds(40));
      const iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + o.token},
                                                 {"Content-Type", "application/json"}};
      const std::string body = R"({"params":)" + o.params + "}";
      while (true) {
        const std::int64_t i = next.fetch_add(1);
        if (i >= total) {
          return;
        }
        const auto due =
            start + std::chrono::nanoseconds(static_cast<std::int64_t>(double(i) * 1e9 / o.rate));
        std::this_thread::sleep_until(due);
        const std::string& dn = o.devices[static_cast<std::size_t>(i) % o.devices.size()];
        int status = 0;
        try {
          status = http.Request("POST",
                                "/api/v1/products/" + o.product + "/devices/" + dn + "/services/" + o.service,
                                headers, body)
                       .status;
        } catch (const std::exception&) {
          status = -1;
        }
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - due).count();
        if (i < warmup_calls) {
          continue;
        }
        std::lock_guard lock(mutex);
        latencies_ms.push_back(ms);
        ++statuses[status];
      }
    });
  }
  for (auto& t : workers) {
    t.join();
  }
  const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count() - o.warmup_seconds;
  std::vector<double> handling;
  for (auto& d : devices) {
    auto part = d->Take();
    handling.insert(handling.end(), part.begin(), part.end());
  }
  json statuses_json = json::object();
  for (auto& [code, n] : statuses) {
    statuses_json[std::to_string(code)] = n;
  }
  const double device_p50_ms = Percentile(handling, 50) / 1000.0;
  json out = {{"calls", latencies_ms.size()},
              {"rate", o.rate},
              {"achievedRate", double(latencies_ms.size()) / elapsed_s},
              {"statuses", statuses_json},
              {"rttMs",
               {{"p50", Percentile(latencies_ms, 50)},
                {"p90", Percentile(latencies_ms, 90)},
                {"p99", Percentile(latencies_ms, 99)},
                {"max", Percentile(latencies_ms, 100)}}},
              {"deviceHandlingMs", {{"p50", device_p50_ms}, {"p99", Percentile(handling, 99) / 1000.0}}},
              {"overheadMs",
               {{"p50", Percentile(latencies_ms, 50) - device_p50_ms},
                {"p99", Percentile(latencies_ms, 99) - device_p50_ms}}}};
  std::cout << out.dump() << std::endl;
  return statuses.size() == 1 && statuses.count(200) ? 0 : 1;
}

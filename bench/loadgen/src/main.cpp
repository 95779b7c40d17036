// iot-loadgen: a lean MQTT 3.1.1 load generator for the platform's benchmarks (bench/README in
// bench/loadgen/README.md). Modes:
//   connect-storm  N signed devices connect as fast as a bounded window allows; CONNACK latency,
//                  failures by code, optional lifecycle-message check, clean disconnect
//   publish        N devices post Alink property posts at QoS 1 at a fixed total rate and match the
//                  platform's replies by id (post->reply latency, codes, ids answered 200 per device)
//   echo           a plain responder: answers every post with 200 (broker-alone ceiling, trials)
//   stream         WebSocket clients of iot-api's live stream subscribed to a product (its ingest cost)
//   register       creates a product and devices through libs/store and writes their credentials CSV
//   tsl            prints a thing model matching the properties `publish` generates
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "devices.hpp"
#include "iot/cli/command_line.hpp"
#include "iot/store/db.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/errors.hpp"
#include "iot/store/products.hpp"
#include "loadgen.hpp"
#include "stats.hpp"
#include "stream_client.hpp"

namespace {

using iot::loadgen::CommonOptions;

std::atomic<bool> g_stop{false};
extern "C" void OnSignal(int /*sig*/) { g_stop = true; }

constexpr const char* kUsage = R"(usage:
  iot-loadgen connect-storm DEVICES [COMMON] [--hold S] [--watch-user U --watch-secret S] [--lifecycle-wait S]
  iot-loadgen publish DEVICES [COMMON] --rate R --duration S [--drain S] [--qos 0|1] [--sub-qos 0|1]
                      [--max-inflight N] [--params JSON] [--no-ids] [--first-id N] [--raw]
  iot-loadgen echo --secret S [--user iot-gateway] [--filter F] [--sub-qos 0|1] [--reply-qos 0|1] [--duration S]
                   (answers each post with code 200 until the duration or SIGINT/SIGTERM)
  iot-loadgen stream --port API_PORT --token T --product-key PK [--clients N] [--host H] [--duration S]
                     (WebSocket clients of iot-api's /api/v1/stream, counting messages until SIGINT/SIGTERM)
  iot-loadgen register --dsn DSN --product-key PK --count N [--prefix P] [--first I] --csv FILE
  iot-loadgen tsl --product-key PK
DEVICES: --devices-csv FILE (lines pk,dn,secret)
      or --product-key PK --count N [--prefix P] [--first I] --secret S   (names P000001..; "{dn}" in S
         is replaced by the device name)
COMMON: --host H (127.0.0.1) --port P (1883) --threads T (1) --window W (100 connects in flight)
        --connect-timeout S (10) --keepalive S (300) --sign-method hmacsha256|hmacsha1|hmacmd5
        --sample NAME=PID[,PID...] (repeatable: CPU of those processes per phase; +PID: the process
                 tree under PID, children reaped meanwhile included, e.g. postgres=+POSTMASTER)
        --json FILE (summary; "-" = stdout) --progress (a status line per second on stderr)
)";

struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> samples;
  std::vector<std::string> flags;

  bool Has(const std::string& k) const { return values.count(k) > 0; }
  bool Flag(const std::string& k) const {
    for (const auto& f : flags) {
      if (f == k) {
        return true;
      }
    }
    return false;
  }
  std::string Str(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  double Num(const std::string& k, double def) const {
    auto it = values.find(k);
    if (it == values.end()) {
      return def;
    }
    try {
      return std::stod(it->second);
    } catch (...) {
      throw std::runtime_error("--" + k + " needs a number, got '" + it->second + "'");
    }
  }
  int Int(const std::string& k, int def) const { return static_cast<int>(Num(k, def)); }
};

// The command line (libs/cli): MODE, then the options of every mode as text (each mode reads its own;
// numbers are checked where they are read). Returns the exit code when main should end.
std::optional<int> ParseArgs(int argc, char** argv, std::string& mode, Args& a) {
  namespace po = iot::cli::po;
  static const char* const kValues[] = {"clients",      "connect-timeout",
                                        "count",        "csv",
                                        "devices-csv",  "drain",
                                        "dsn",          "duration",
                                        "filter",       "first",
                                        "first-id",     "hold",
                                        "host",         "json",
                                        "keepalive",    "lifecycle-wait",
                                        "max-inflight", "params",
                                        "port",         "prefix",
                                        "product-key",  "qos",
                                        "rate",         "reply-qos",
                                        "secret",       "sign-method",
                                        "sub-qos",      "threads",
                                        "token",        "user",
                                        "watch-secret", "watch-user",
                                        "window"};
  static const char* const kFlags[] = {"progress", "no-ids", "raw"};
  iot::cli::CommandLine line("iot-loadgen", "iot-loadgen MODE [options]",
                             "MQTT load generator of the platform's benchmarks (bench/loadgen/README.md).");
  line.Hidden()("mode", po::value(&mode)->required(), "mode");
  line.Positional("mode", 1);
  line.Hidden()("sample", po::value(&a.samples)->composing(), "sampled processes");
  for (const char* name : kValues) {
    line.Hidden()(name, po::value<std::string>(), name);
  }
  for (const char* name : kFlags) {
    line.Hidden()(name, po::bool_switch(), name);
  }
  line.Epilog(kUsage);
  if (auto exit_code = line.Parse(argc, argv)) {
    return exit_code;
  }
  for (const char* name : kValues) {
    if (line.Vars().count(name) != 0U) {
      a.values[name] = line.Vars()[name].as<std::string>();
    }
  }
  for (const char* name : kFlags) {
    if (line.Vars()[name].as<bool>()) {
      a.flags.emplace_back(name);
    }
  }
  return std::nullopt;
}

void FillCommon(const Args& a, CommonOptions& o) {
  o.host = a.Str("host", o.host);
  o.port = a.Int("port", o.port);
  o.threads = a.Int("threads", o.threads);
  o.window = a.Int("window", o.window);
  o.connect_timeout_s = a.Num("connect-timeout", o.connect_timeout_s);
  o.keepalive_s = a.Int("keepalive", o.keepalive_s);
  o.progress = a.Flag("progress");
  if (a.Has("sign-method")) {
    auto m = iot::alink::ParseSignMethod(a.Str("sign-method"));
    if (!m) {
      throw std::runtime_error("unknown sign method " + a.Str("sign-method"));
    }
    o.sign_method = *m;
  }
  for (const auto& spec : a.samples) {
    iot::loadgen::SampledProcess p;
    if (!iot::loadgen::ParseSampledProcess(spec, p)) {
      throw std::runtime_error("bad --sample " + spec);
    }
    o.sampled.push_back(p);
  }
  if (a.Has("devices-csv")) {
    std::string error;
    if (!iot::loadgen::LoadDevicesCsv(a.Str("devices-csv"), o.devices, error)) {
      throw std::runtime_error(error);
    }
  } else if (a.Has("product-key") && a.Has("count") && a.Has("secret")) {
    o.devices = iot::loadgen::GenerateDevices(a.Str("product-key"), a.Str("prefix", "lg"), a.Int("first", 1),
                                              a.Int("count", 0), a.Str("secret"));
  } else {
    throw std::runtime_error("give --devices-csv, or --product-key, --count and --secret");
  }
  if (o.devices.empty()) {
    throw std::runtime_error("no devices");
  }
}

void WriteSummary(const Args& a, const nlohmann::json& summary) {
  std::cout << iot::loadgen::FormatSummary(summary) << std::flush;
  if (!a.Has("json")) {
    return;
  }
  const std::string path = a.Str("json");
  if (path == "-") {
    std::cout << summary.dump() << "\n";
    return;
  }
  std::ofstream out(path);
  out << summary.dump() << "\n";
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

int Register(const Args& a) {
  const std::string dsn = a.Str("dsn");
  const std::string pk = a.Str("product-key");
  const int count = a.Int("count", 0);
  const std::string csv = a.Str("csv");
  if (dsn.empty() || pk.empty() || count <= 0 || csv.empty()) {
    throw std::runtime_error("register needs --dsn, --product-key, --count, --csv");
  }
  const std::string prefix = a.Str("prefix", "lg");
  const int first = a.Int("first", 1);
  iot::store::Db db(iot::store::DbSettings{dsn});
  iot::store::ProductCreate product;
  product.product_key = pk;
  product.name = "load " + pk;
  if (auto r = iot::store::CreateProduct(db, product);
      !r && !iot::store::Is(r.error(), iot::store::Errc::kConflict)) {
    throw std::runtime_error("create product: " + r.error().message());
  }
  std::ofstream out(csv);
  out << "pk,dn,secret\n";
  for (int done = 0; done < count;) {
    const int n = std::min(iot::store::kMaxBatchDevices, count - done);
    std::vector<iot::store::DeviceCreate> batch(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      char num[16];
      std::snprintf(num, sizeof num, "%06d", first + done + i);
      batch[static_cast<std::size_t>(i)].device_name = prefix + num;
    }
    auto created = iot::store::CreateDevices(db, pk, batch);
    if (!created) {
      throw std::runtime_error("create devices: " + created.error().message());
    }
    for (const auto& d : *created) {
      out << d.product_key << ',' << d.device_name << ',' << d.secret << '\n';
    }
    done += n;
  }
  out.flush();
  if (!out) {
    throw std::runtime_error("cannot write " + csv);
  }
  std::cerr << "registered " << count << " devices of " << pk << " -> " << csv << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode;
  Args a;
  if (auto exit_code = ParseArgs(argc, argv, mode, a)) {
    return *exit_code;
  }
  try {
    if (mode == "connect-storm") {
      iot::loadgen::StormOptions o;
      FillCommon(a, o);
      o.hold_s = a.Num("hold", 0);
      o.watch_user = a.Str("watch-user");
      o.watch_secret = a.Str("watch-secret");
      o.lifecycle_wait_s = a.Num("lifecycle-wait", o.lifecycle_wait_s);
      const auto summary = iot::loadgen::RunConnectStorm(o);
      WriteSummary(a, summary);
      const bool lifecycle_ok = !summary.contains("lifecycle") || summary["lifecycle"]["ok"].get<bool>();
      return summary["failed"].get<std::uint64_t>() == 0 && lifecycle_ok ? 0 : 1;
    }
    if (mode == "publish") {
      iot::loadgen::PublishOptions o;
      FillCommon(a, o);
      o.rate = a.Num("rate", o.rate);
      o.duration_s = a.Num("duration", o.duration_s);
      o.drain_s = a.Num("drain", o.drain_s);
      o.qos = a.Int("qos", o.qos);
      o.sub_qos = a.Int("sub-qos", o.sub_qos);
      o.max_inflight = a.Int("max-inflight", o.max_inflight);
      o.params_json = a.Str("params");
      o.ids_per_device = !a.Flag("no-ids");
      o.raw = a.Flag("raw");
      const double first_id = a.Num("first-id", 1);
      if (first_id < 1 || first_id > 1e15) {
        throw std::runtime_error("--first-id must be between 1 and 1e15");
      }
      if (a.Flag("raw") && first_id > 4e9) {
        throw std::runtime_error("--raw frames carry 32-bit ids: --first-id below 4e9");
      }
      o.first_id = static_cast<std::uint64_t>(first_id);
      if (o.qos < 0 || o.qos > 1 || o.sub_qos < 0 || o.sub_qos > 1) {
        throw std::runtime_error("QoS must be 0 or 1");
      }
      if (o.rate <= 0 || o.duration_s <= 0) {
        throw std::runtime_error("--rate and --duration must be positive");
      }
      const auto summary = iot::loadgen::RunPublish(o);
      WriteSummary(a, summary);
      return summary["connect"]["failed"].get<std::uint64_t>() == 0 &&
                     summary["unanswered"].get<std::uint64_t>() == 0
                 ? 0
                 : 1;
    }
    if (mode == "echo") {
      iot::loadgen::EchoOptions o;
      o.host = a.Str("host", o.host);
      o.port = a.Int("port", o.port);
      o.user = a.Str("user", o.user);
      o.secret = a.Str("secret");
      o.filter = a.Str("filter", o.filter);
      o.sub_qos = a.Int("sub-qos", o.sub_qos);
      o.reply_qos = a.Int("reply-qos", o.reply_qos);
      o.duration_s = a.Num("duration", 0);
      for (const auto& spec : a.samples) {
        iot::loadgen::SampledProcess p;
        if (!iot::loadgen::ParseSampledProcess(spec, p)) {
          throw std::runtime_error("bad --sample " + spec);
        }
        o.sampled.push_back(p);
      }
      std::signal(SIGINT, OnSignal);
      std::signal(SIGTERM, OnSignal);
      WriteSummary(a, iot::loadgen::RunEcho(o, g_stop));
      return 0;
    }
    if (mode == "stream") {
      iot::loadgen::StreamOptions o;
      o.host = a.Str("host", o.host);
      o.port = a.Int("port", o.port);
      o.token = a.Str("token");
      o.product_key = a.Str("product-key");
      o.clients = a.Int("clients", o.clients);
      o.duration_s = a.Num("duration", 0);
      if (o.product_key.empty()) {
        throw std::runtime_error("stream needs --product-key");
      }
      std::signal(SIGINT, OnSignal);
      std::signal(SIGTERM, OnSignal);
      WriteSummary(a, iot::loadgen::RunStream(o, g_stop));
      return 0;
    }
    if (mode == "register") {
      return Register(a);
    }
    if (mode == "tsl") {
      std::cout << iot::loadgen::DefaultTsl(a.Str("product-key", "PRODUCT_KEY")) << "\n";
      return 0;
    }
    std::cerr << "unknown mode '" << mode << "'\n" << kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "iot-loadgen: " << e.what() << "\n";
    return 2;
  }
}

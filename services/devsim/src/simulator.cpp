#include "simulator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/device/device.hpp"
#include "iot/http/client.hpp"
#include "iot/tsl/parser.hpp"
#include "stats.hpp"

namespace iot::devsim {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string DeviceName(const Options& o, std::size_t i) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%04zu", i + 1);
  return o.prefix + digits;
}

Credential FromJson(const json& item) {
  Credential c;
  c.product_key = item.at("productKey").get<std::string>();
  c.device_name = item.at("deviceName").get<std::string>();
  c.device_secret = item.at("deviceSecret").get<std::string>();
  return c;
}

[[noreturn]] void HttpFailure(const std::string& what, const http::Response& r) {
  throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 500));
}

// The REST API: where it is and how to reach it (--api, --api-ca, the token).
struct Api {
  http::Url url;
  http::ClientOptions options;  // the CA for https://, the deadline of a call
  http::Headers headers;

  http::Response Call(const std::string& method, const std::string& target,
                      const std::string& body = "") const {
    return http::Request(url, method, target, headers, body, options);
  }
};

// Registers the devices (devices:batch in chunks of 1000); names that exist already are looked up.
std::vector<Credential> RegisterDevices(const Options& o, const Api& api) {
  std::vector<Credential> out;
  const std::string base = "/api/v1/products/" + o.product_key + "/devices";
  for (std::size_t first = 0; first < o.devices; first += 1000) {
    const std::size_t last = std::min(o.devices, first + 1000);
    json names = json::array();
    for (std::size_t i = first; i < last; ++i) {
      names.push_back(DeviceName(o, i));
    }
    http::Response r = api.Call("POST", base + ":batch", json{{"deviceNames", names}}.dump());
    if (r.status == 201) {
      const json doc = json::parse(r.body);  // not in the range-for: a temporary would dangle
      for (const json& item : doc.at("items")) {
        out.push_back(FromJson(item));
      }
      continue;
    }
    if (r.status != 409) {
      HttpFailure("registering devices", r);
    }
    // Some exist (an earlier run): register the rest one by one, read the secrets of the others.
    for (const json& name : names) {
      const std::string dn = name.get<std::string>();
      http::Response one = api.Call("POST", base, json{{"deviceName", dn}}.dump());
      if (one.status == 409) {
        one = api.Call("GET", base + "/" + dn);
      }
      if (one.status != 200 && one.status != 201) {
        HttpFailure("registering " + dn, one);
      }
      out.push_back(FromJson(json::parse(one.body)));
    }
  }
  return out;
}

tsl::Module LoadModel(const Options& o, const Api* api) {
  std::string text;
  if (!o.model_file.empty()) {
    text = ReadFile(o.model_file);
  } else {
    http::Response r = api->Call("GET", "/api/v1/products/" + o.product_key + "/thing-model?version=latest");
    if (r.status == 404) {
      throw std::runtime_error("product " + o.product_key + " has no published thing model");
    }
    if (r.status != 200) {
      HttpFailure("fetching the thing model", r);
    }
    text = std::move(r.body);
  }
  tsl::ModuleResult parsed = tsl::ParseModule(text);
  if (!parsed.module) {
    std::string problems;
    for (const auto& p : parsed.problems) {
      problems += "\n  " + p.pointer + ": " + p.message;
    }
    throw std::runtime_error("the thing model does not parse:" + problems);
  }
  if (parsed.module->properties.empty() && parsed.module->events.empty()) {
    throw std::runtime_error("the thing model has neither properties nor events to post");
  }
  return std::move(*parsed.module);
}

std::string Fixed(double v, int digits = 1) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace

std::vector<Credential> ReadCredentials(const std::string& path) {
  json doc = json::parse(ReadFile(path), nullptr, false);
  if (doc.is_discarded() || !doc.is_array()) {
    throw std::runtime_error(path + ": expected a JSON array of {productKey, deviceName, deviceSecret}");
  }
  std::vector<Credential> out;
  for (const json& item : doc) {
    try {
      out.push_back(FromJson(item));
    } catch (const json::exception& e) {
      throw std::runtime_error(path + ": " + e.what());
    }
  }
  return out;
}

void WriteCredentials(const std::string& path, const std::vector<Credential>& credentials) {
  json doc = json::array();
  for (const auto& c : credentials) {
    doc.push_back(
        {{"productKey", c.product_key}, {"deviceName", c.device_name}, {"deviceSecret", c.device_secret}});
  }
  std::ofstream out(path);
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
  out << doc.dump(2) << "\n";
}

PostPlan MakePost(const tsl::Module& model, ValueGenerator& values, const Options& o, std::int64_t now_ms) {
  PostPlan plan;
  const bool event = !model.events.empty() && (model.properties.empty() || values.Uniform() < o.event_share);
  plan.invalid = values.Uniform() < o.invalid_share;
  if (event) {
    const tsl::Event& e = model.events[values.Index(model.events.size())];
    plan.event = true;
    plan.event_id = e.identifier;
    plan.params = values.ValidParams(e.outputs, now_ms);
    if (plan.invalid && !e.outputs.params.empty()) {
      const tsl::Param& p = e.outputs.params[values.Index(e.outputs.params.size())];
      plan.params[p.identifier] = values.Invalid(p.data_type);
    } else {
      plan.invalid = false;
    }
    return plan;
  }
  // A random selection of distinct properties (partial Fisher-Yates over indices).
  std::vector<std::size_t> order(model.properties.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
  }
  const std::size_t k = std::min(o.properties_per_post, order.size());
  for (std::size_t i = 0; i < k; ++i) {
    std::swap(order[i], order[i + values.Index(order.size() - i)]);
  }
  for (std::size_t i = 0; i < k; ++i) {
    const tsl::Property& p = model.properties[order[i]];
    plan.params[p.identifier] = values.Valid(p.data_type, now_ms);
  }
  if (plan.invalid && k > 0) {
    const tsl::Property& p = model.properties[order[values.Index(k)]];
    plan.params[p.identifier] = values.Invalid(p.data_type);
  } else {
    plan.invalid = false;
  }
  return plan;
}

int RunSimulation(const Options& o, std::ostream& out, std::ostream& err, const std::atomic<bool>& stop) {
  // --- set up: credentials and thing model ---
  std::vector<Credential> credentials;
  tsl::Module model;
  try {
    std::unique_ptr<Api> api;
    if (!o.token.empty()) {
      api =
          std::make_unique<Api>(Api{http::ParseUrl(o.api_url), {}, {{"Authorization", "Bearer " + o.token}}});
      api->options.ca_file = o.api_ca_file.empty() ? o.ca_file : o.api_ca_file;
    }
    if (!o.credentials_file.empty() && ::access(o.credentials_file.c_str(), R_OK) == 0) {
      credentials = ReadCredentials(o.credentials_file);
      if (credentials.size() > o.devices) {
        credentials.resize(o.devices);
      }
    } else {
      credentials = RegisterDevices(o, *api);
      if (!o.credentials_file.empty()) {
        WriteCredentials(o.credentials_file, credentials);
      }
    }
    if (credentials.empty()) {
      throw std::runtime_error("no devices to simulate");
    }
    model = LoadModel(o, api.get());
  } catch (const std::exception& e) {
    err << "msg=\"cannot start\" error=" << log::Quote(e.what()) << "\n";
    return 1;
  }

  Stats stats;
  device::RuntimeOptions runtime_options;
  runtime_options.workers = o.workers;
  auto runtime = std::make_shared<device::Runtime>(runtime_options);
  std::map<std::string, const tsl::Service*, std::less<>> services;
  for (const tsl::Service& s : model.services) {
    services[s.identifier] = &s;
  }

  // --- connect ---
  std::vector<std::unique_ptr<device::Device>> devices;
  std::uint64_t seed = o.seed;
  for (const Credential& c : credentials) {
    device::DeviceOptions d;
    d.broker_uri = o.mqtt_uri;
    d.ca_file = o.ca_file;
    d.product_key = c.product_key;
    d.device_name = c.device_name;
    d.device_secret = c.device_secret;
    d.qos = o.qos;
    d.window = o.window;
    d.reply_timeout = o.reply_timeout;
    d.max_attempts = 3;
    d.request_deadline = o.reply_timeout * 3 + std::chrono::seconds(1);
    d.runtime = runtime;
    std::unique_ptr<device::Device> dev;
    try {
      dev = std::make_unique<device::Device>(d);
    } catch (const std::exception& e) {
      err << "msg=\"cannot create device\" error=" << log::Quote(e.what()) << "\n";
      return 1;
    }
    // Answers come from the thing model, after the configured delay (on the runtime's timer, so a
    // slow answer holds no thread).
    auto values = std::make_shared<ValueGenerator>(++seed * 7919);
    auto values_mutex = std::make_shared<std::mutex>();
    auto answer = [&stats, runtime, delay = o.answer_delay](device::Responder responder, json data) {
      auto send = [&stats, responder, data]() mutable {
        responder.Ok(data);
        stats.DownlinkAnswered();
      };
      if (delay.count() == 0) {
        return send();
      }
      if (!runtime->PostAfter(delay, send)) {
        responder.Reply(429, json::object(), "simulator busy");
      }
    };
    dev->OnPropertySet([&stats, answer](const device::DownlinkRequest&, device::Responder r) {
      stats.Downlink();
      answer(std::move(r), json::object());
    });
    dev->OnService("", [&stats, answer, &services, values, values_mutex](
                           const device::DownlinkRequest& request, device::Responder r) {
      stats.Downlink();
      auto it = services.find(request.identifier);
      if (it == services.end()) {
        r.Reply(460, json::object(), "no service " + request.identifier + " in the thing model");
        return;
      }
      json output;
      {
        std::lock_guard lock(*values_mutex);
        output = values->ValidParams(it->second->outputs, NowMs());
      }
      answer(std::move(r), std::move(output));
    });
    dev->Start();
    devices.push_back(std::move(dev));
  }
  const auto connect_deadline = Clock::now() + o.connect_timeout;
  std::size_t connected = 0;
  while (Clock::now() < connect_deadline && !stop) {
    connected = 0;
    for (const auto& d : devices) {
      connected += d->IsReady() ? 1 : 0;
    }
    if (connected == devices.size()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (connected == 0) {
    err << "msg=\"no device connected\" uri=" << log::Quote(o.mqtt_uri)
        << " error=" << log::Quote(devices.front()->LastError()) << "\n";
    return 1;
  }
  if (connected < devices.size()) {
    err << "msg=\"some devices not connected, the others keep trying\" connected=" << connected
        << " devices=" << devices.size() << "\n";
  }

  // --- post at the configured rate; progress on one line ---
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::atomic<bool> posting_done{false};
  std::thread progress([&] {
    auto next = Clock::now() + std::chrono::seconds(1);
    int ticks = 0;
    std::uint64_t last_answered = 0;
    while (!posting_done) {
      std::this_thread::sleep_until(next);
      next += std::chrono::seconds(1);
      ++ticks;
      const std::uint64_t answered = stats.answered();
      const Percentiles recent = stats.TakeRecentLatency();
      if (!o.progress || (!tty && ticks % 5 != 0)) {
        last_answered = answered;
        continue;
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      err << (tty ? "\r" : "") << "msg=\"progress\" elapsed_s=" << Fixed(elapsed) << " sent=" << stats.sent()
          << " answered=" << answered << " refused=" << stats.refused() << " timeouts=" << stats.timeouts()
          << " rate_per_s=" << (answered - last_answered) << " p50_ms=" << Fixed(recent.p50, 2)
          << " p99_ms=" << Fixed(recent.p99, 2) << (tty ? "   " : "\n") << std::flush;
      last_answered = answered;
    }
  });

  ValueGenerator values(o.seed);
  const auto interval =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.rate));
  auto next = start;
  std::size_t turn = 0;
  while (!stop) {
    const auto now = Clock::now();
    if (now >= end) {
      break;
    }
    if (next > now) {
      std::this_thread::sleep_until(std::min(next, end));
      continue;
    }
    device::Device& dev = *devices[turn++ % devices.size()];
    PostPlan plan = MakePost(model, values, o, NowMs());
    auto done = [&stats](const device::Reply& reply) { stats.Record(reply); };
    const device::Outcome accepted = plan.event
                                         ? dev.PostEventAsync(plan.event_id, plan.params, std::nullopt, done)
                                         : dev.PostPropertiesAsync(plan.params, done);
    if (accepted == device::Outcome::kWindowFull) {
      stats.WindowFull();
    } else {
      stats.Sent();
      if (plan.invalid) {
        stats.InvalidSent();
      }
    }
    next += interval;
    if (now - next > std::chrono::seconds(1)) {
      next = now;  // after a stall, no catch-up burst
    }
  }
  const double posting_s = std::chrono::duration<double>(Clock::now() - start).count();

  // --- drain: every post ends with a reply, a timeout, or (after the deadline) unfinished ---
  const auto drain_end = Clock::now() + o.reply_timeout * 3 + std::chrono::seconds(3);
  while (Clock::now() < drain_end) {
    if (stats.answered() + stats.timeouts() >= stats.sent()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  posting_done = true;
  progress.join();
  if (o.progress && tty) {
    err << "\n";
  }

  std::uint64_t resends = 0;
  connected = 0;
  for (const auto& d : devices) {
    resends += d->Stats().resends;
    connected += d->Stats().connects > 0 ? 1 : 0;
  }
  for (auto& d : devices) {
    d->Stop();
  }
  json summary = stats.Summary(posting_s, devices.size(), connected, resends);
  if (o.json) {
    out << summary.dump() << std::endl;
  } else {
    const json& l = summary["latencyMs"];
    out << "devices " << summary["devices"] << " (connected " << summary["connected"] << ")\n"
        << "posts sent " << summary["sent"] << " (invalid " << summary["invalidSent"] << "), answered "
        << summary["answered"] << ", accepted " << summary["accepted"] << ", refused " << summary["refused"]
        << ", timeouts " << summary["timeouts"] << ", window full " << summary["windowFull"] << ", resends "
        << summary["resends"] << "\n"
        << "achieved " << summary["achievedRate"] << " posts/s over " << summary["durationS"] << " s\n"
        << "post->reply latency ms: p50 " << l["p50"] << " p90 " << l["p90"] << " p99 " << l["p99"] << " max "
        << l["max"] << "\n"
        << "refusals by code " << summary["refusalsByCode"].dump() << "\n"
        << "downlinks received " << summary["downlinks"]["received"] << ", answered "
        << summary["downlinks"]["answered"] << "\n";
  }
  return 0;
}

}  // namespace iot::devsim

#include "simulator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <ostream>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "iot/alink/session.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "iot/device/device.hpp"
#include "iot/device/ota.hpp"
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

// Registers one device (or reads the secret of the existing one).
Credential RegisterOne(const Api& api, const std::string& product_key, const std::string& device_name) {
  const std::string base = "/api/v1/products/" + product_key + "/devices";
  http::Response one = api.Call("POST", base, json{{"deviceName", device_name}}.dump());
  if (one.status == 409) {
    one = api.Call("GET", base + "/" + device_name);
  }
  if (one.status != 200 && one.status != 201) {
    HttpFailure("registering " + device_name, one);
  }
  return FromJson(json::parse(one.body));
}

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
      out.push_back(RegisterOne(api, o.product_key, name.get<std::string>()));
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

PostPlan MakeSensorPost(const tsl::Module& model, SensorValues& values, const Options& o, std::size_t device,
                        const std::vector<std::size_t>& properties, std::int64_t now_ms) {
  PostPlan plan;
  for (std::size_t index : properties) {
    const tsl::Property& p = model.properties[index];
    plan.params[p.identifier] = values.Next(device, p, now_ms);
  }
  plan.invalid = !properties.empty() && values.Chance() < o.invalid_share;
  if (plan.invalid) {
    const tsl::Property& p = model.properties[properties[values.Index(properties.size())]];
    plan.params[p.identifier] = values.Invalid(p.data_type);
  }
  return plan;
}

int RunSimulation(const Options& o, std::ostream& out, std::ostream& err, const std::atomic<bool>& stop) {
  // --- set up: credentials and thing model ---
  std::vector<Credential> credentials;
  std::optional<Credential> gateway;  // gateway mode
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
      // Gateway mode: the gateway is the entry of the gateway product.
      const auto gw = std::find_if(credentials.begin(), credentials.end(), [&](const Credential& c) {
        return !o.gateway_product.empty() && c.product_key == o.gateway_product;
      });
      if (gw != credentials.end()) {
        gateway = *gw;
        credentials.erase(gw);
      } else if (!o.gateway_product.empty()) {
        throw std::runtime_error(o.credentials_file + ": no device of the gateway product " +
                                 o.gateway_product);
      }
      if (credentials.size() > o.devices) {
        credentials.resize(o.devices);
      }
    } else {
      credentials = RegisterDevices(o, *api);
      if (!o.gateway_product.empty()) {
        gateway = RegisterOne(*api, o.gateway_product, o.prefix + "gw");
      }
      if (!o.credentials_file.empty()) {
        auto all = credentials;
        if (gateway) {
          all.push_back(*gateway);
        }
        WriteCredentials(o.credentials_file, all);
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

  // OTA upgrades (--firmware-version): what the simulated devices did with their pushes (declared
  // before the runtime, whose workers run the upgrades, so they outlive it).
  std::atomic<std::uint64_t> ota_pushes{0};
  std::atomic<std::uint64_t> ota_succeeded{0};
  std::atomic<std::uint64_t> ota_failed{0};
  std::atomic<std::uint64_t> ota_resumed{0};
  std::mutex ota_random_mutex;
  std::mt19937_64 ota_random(o.seed * 104729);

  Stats stats;
  device::RuntimeOptions runtime_options;
  runtime_options.workers = o.workers;
  auto runtime = std::make_shared<device::Runtime>(runtime_options);
  std::map<std::string, const tsl::Service*, std::less<>> services;
  for (const tsl::Service& s : model.services) {
    services[s.identifier] = &s;
  }

  // --- connect ---
  // Answers come from the thing model, after the configured delay (on the runtime's timer, so a slow
  // answer holds no thread). `target` is a Device or a SubDevice.
  std::uint64_t seed = o.seed;
  auto install_handlers = [&](auto& target) {
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
    target.OnPropertySet([&stats, answer](const device::DownlinkRequest&, device::Responder r) {
      stats.Downlink();
      answer(std::move(r), json::object());
    });
    target.OnService("", [&stats, answer, &services, values, values_mutex](
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
  };
  auto device_options = [&](const Credential& c) {
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
    return d;
  };

  // What posting drives: one function per simulated device (a Device, or a SubDevice of the gateway).
  using Poster = std::function<device::Outcome(const PostPlan&, device::ReplyCallback)>;
  std::vector<Poster> posters;
  std::vector<std::unique_ptr<device::Device>> devices;  // the connections (one in gateway mode)
  std::vector<device::SubDevice> subs;
  // --firmware-version: each direct device informs it once connected and upgrades on a push with the SDK.
  auto install_ota = [&](device::Device* self) {
    if (!o.firmware_version.empty()) {
      self->OnOtaPush([&, self](const alink::OtaPackage& package) {
        ota_pushes.fetch_add(1);
        device::OtaOptions ota;
        {
          std::lock_guard lock(ota_random_mutex);
          std::uniform_real_distribution<double> share(0, 1);
          ota.corrupt = share(ota_random) < o.ota_fail_share;
          ota.cut_at = share(ota_random) < o.ota_cut_share ? package.size / 2 : -1;
        }
        device::OtaResult result = device::RunOtaUpgrade(self, package, ota);
        ota_resumed.fetch_add(static_cast<std::uint64_t>(result.resumed_requests));
        if (result.ok) {
          self->InformVersion(package.version, package.module);  // "rebooted" into it
          ota_succeeded.fetch_add(1);
        } else {
          ota_failed.fetch_add(1);
        }
      });
      self->OnConnectionChange([self, version = o.firmware_version](bool ready, const std::string&) {
        if (ready) {
          self->InformVersion(version);
        }
      });
    }
  };
  std::size_t connected = 0;
  const auto connect_deadline = Clock::now() + o.connect_timeout;
  try {
    if (gateway) {
      device::DeviceOptions d = device_options(*gateway);
      d.gateway = true;
      devices.push_back(std::make_unique<device::Device>(d));
    } else {
      for (const Credential& c : credentials) {
        auto dev = std::make_unique<device::Device>(device_options(c));
        install_handlers(*dev);
        if (!o.firmware_version.empty()) {
          install_ota(dev.get());
        }
        dev->Start();
        devices.push_back(std::move(dev));
      }
    }
  } catch (const std::exception& e) {
    err << "msg=\"cannot create device\" error=" << log::Quote(e.what()) << "\n";
    return 1;
  }
  if (gateway) {
    device::Device& gw = *devices.front();
    std::vector<device::SubDeviceIdentity> identities;
    for (const Credential& c : credentials) {
      identities.push_back({c.product_key, c.device_name, c.device_secret, alink::SignMethod::kHmacSha256});
      subs.push_back(gw.Sub(c.product_key, c.device_name));
      install_handlers(subs.back());
    }
    if (!gw.Connect(std::chrono::duration_cast<std::chrono::milliseconds>(o.connect_timeout))) {
      err << "msg=\"gateway not connected\" uri=" << log::Quote(o.mqtt_uri)
          << " error=" << log::Quote(gw.LastError()) << "\n";
      return 1;
    }
    const device::Reply added = gw.AddTopology(identities);
    if (!added.ok()) {
      err << "msg=\"topology add failed\" code=" << added.code << " message=" << log::Quote(added.message)
          << "\n";
      return 1;
    }
    // The topology reaches the broker within a second: log in (again) whoever is refused, until the
    // connect timeout.
    std::vector<device::SubDeviceIdentity> pending = identities;
    std::set<std::string> logged_in;
    while (!pending.empty() && Clock::now() < connect_deadline && !stop) {
      std::vector<device::SubDeviceIdentity> refused;
      std::size_t at = 0;
      for (const device::Reply& reply : gw.LoginSubDevices(pending)) {
        const std::size_t batch = std::min(alink::kMaxSessionBatch, pending.size() - at);
        for (std::size_t i = 0; i < batch; ++i) {
          const json& item = reply.data.is_array() && i < reply.data.size() ? reply.data[i] : json();
          if (reply.outcome == device::Outcome::kReplied && item.is_object() &&
              item.value("code", 0) == 200) {
            ++connected;
            logged_in.insert(pending[at + i].device_name);
          } else {
            refused.push_back(pending[at + i]);
          }
        }
        at += batch;
      }
      pending = std::move(refused);
      if (!pending.empty()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    // Only sub-devices logged in post: the broker closes the gateway's connection on a refused publish.
    for (device::SubDevice& sub : subs) {
      if (logged_in.count(sub.device_name()) == 0) {
        continue;
      }
      posters.push_back([sub](const PostPlan& plan, device::ReplyCallback done) mutable {
        return plan.event ? sub.PostEventAsync(plan.event_id, plan.params, std::nullopt, std::move(done))
                          : sub.PostPropertiesAsync(plan.params, std::move(done));
      });
    }
  } else {
    for (auto& dev : devices) {
      posters.push_back([d = dev.get()](const PostPlan& plan, device::ReplyCallback done) {
        return plan.event ? d->PostEventAsync(plan.event_id, plan.params, std::nullopt, std::move(done))
                          : d->PostPropertiesAsync(plan.params, std::move(done));
      });
    }
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
  }
  if (connected == 0) {
    err << "msg=\"no device connected\" uri=" << log::Quote(o.mqtt_uri)
        << " error=" << log::Quote(devices.front()->LastError()) << "\n";
    return 1;
  }
  if (connected < credentials.size()) {
    err << "msg=\"some devices not connected"
        << (gateway ? " (those not logged in do not post)" : ", the others keep trying")
        << "\" connected=" << connected << " devices=" << credentials.size() << "\n";
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

  const auto send = [&](Poster& post, const PostPlan& plan) {
    const device::Outcome accepted =
        post(plan, [&stats](const device::Reply& reply) { stats.Record(reply); });
    if (accepted == device::Outcome::kWindowFull) {
      stats.WindowFull();
    } else {
      stats.Sent();
      if (plan.invalid) {
        stats.InvalidSent();
      }
    }
  };
  if (o.workload == "sensor") {
    // Each device: its own period (log-uniform), its own K properties, a first post at a random offset.
    SensorValues values(o.seed);
    std::mt19937_64 rng(o.seed + 7);
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    std::vector<std::vector<std::size_t>> chosen(posters.size());
    std::vector<Clock::duration> period(posters.size());
    using Due = std::pair<Clock::time_point, std::size_t>;
    std::priority_queue<Due, std::vector<Due>, std::greater<>> due;
    const std::size_t k = std::min(o.properties_per_post, model.properties.size());
    for (std::size_t d = 0; d < posters.size(); ++d) {
      std::vector<std::size_t> order(model.properties.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::shuffle(order.begin(), order.end(), rng);
      chosen[d].assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
      const double s = o.period_min_s * std::pow(o.period_max_s / o.period_min_s, unit(rng));
      period[d] = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
      due.emplace(start + std::chrono::duration_cast<Clock::duration>(period[d] * unit(rng)), d);
    }
    while (!stop && !due.empty()) {
      const auto [when, d] = due.top();
      if (when >= end) {
        break;
      }
      if (when > Clock::now()) {
        std::this_thread::sleep_until(std::min(when, end));
        continue;
      }
      due.pop();
      send(posters[d], MakeSensorPost(model, values, o, d, chosen[d], NowMs()));
      due.emplace(std::max(when + period[d], Clock::now() - std::chrono::seconds(1)), d);
    }
  } else {
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
      send(posters[turn++ % posters.size()], MakePost(model, values, o, NowMs()));
      next += interval;
      if (now - next > std::chrono::seconds(1)) {
        next = now;  // after a stall, no catch-up burst
      }
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
  std::size_t ever_connected = 0;
  for (const auto& d : devices) {
    resends += d->Stats().resends;
    ever_connected += d->Stats().connects > 0 ? 1 : 0;
  }
  if (gateway) {
    // Sub-devices log out with their gateway; "connected" counts those logged in.
    std::vector<device::SubDeviceIdentity> identities;
    for (const Credential& c : credentials) {
      identities.push_back({c.product_key, c.device_name, "", alink::SignMethod::kHmacSha256});
    }
    (void)devices.front()->LogoutSubDevices(identities);
  } else {
    connected = ever_connected;
  }
  for (auto& d : devices) {
    d->Stop();
  }
  json summary = stats.Summary(posting_s, posters.size(), connected, resends);
  if (gateway) {
    summary["gateway"] = {{"productKey", gateway->product_key},
                          {"deviceName", gateway->device_name},
                          {"connections", ever_connected}};
  }
  if (!o.firmware_version.empty()) {
    summary["ota"] = {{"pushes", ota_pushes.load()},
                      {"succeeded", ota_succeeded.load()},
                      {"failed", ota_failed.load()},
                      {"resumedRequests", ota_resumed.load()}};
  }
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
    if (summary.contains("ota")) {
      out << "OTA pushes " << summary["ota"]["pushes"] << ", upgraded " << summary["ota"]["succeeded"]
          << ", failed " << summary["ota"]["failed"] << ", resumed requests "
          << summary["ota"]["resumedRequests"] << "\n";
    }
  }
  return 0;
}

}  // namespace iot::devsim

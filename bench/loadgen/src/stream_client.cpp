#include "stream_client.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <nlohmann/json.hpp>

#include "connection.hpp"
#include "mqtt_codec.hpp"
#include "stats.hpp"

namespace iot::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// One client; everything on the shared io_context thread.
struct Client {
  explicit Client(asio::io_context& io) : ws(io) {}
  websocket::stream<tcp::socket> ws;
  beast::flat_buffer buffer;
  std::string subscribe;
  int state = 0;  // 0 connecting, 1 open, -1 failed, 2 ended
  std::string error;
};

struct Counters {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, std::uint64_t> by_type;
  std::map<int, std::uint64_t> closed_by_server;
};

void Read(Client& c, Counters& n) {
  c.ws.async_read(c.buffer, [&c, &n](beast::error_code ec, std::size_t bytes) {
    if (ec) {
      if (c.state == 1) {
        c.state = 2;
        ++n.closed_by_server[c.ws.reason().code];
      }
      return;
    }
    ++n.messages;
    n.bytes += bytes;
    const auto data = c.buffer.data();
    const std::string_view text(static_cast<const char*>(data.data()), data.size());
    std::string_view type = TopLevelJsonValue(text, "type");
    if (type.size() >= 2 && type.front() == '"') {
      type = type.substr(1, type.size() - 2);
    }
    ++n.by_type[std::string(type)];
    c.buffer.consume(c.buffer.size());
    Read(c, n);
  });
}

double Round(double v, int decimals) {
  const double f = std::pow(10.0, decimals);
  return std::round(v * f) / f;
}

}  // namespace

nlohmann::json RunStream(const StreamOptions& options, const std::atomic<bool>& stop) {
  if (options.clients <= 0) {
    throw std::runtime_error("--clients must be positive");
  }
  asio::io_context io{1};
  auto guard = asio::make_work_guard(io);
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(options.host, std::to_string(options.port));
  const std::string host_header = options.host + ":" + std::to_string(options.port);
  std::vector<std::unique_ptr<Client>> clients;
  Counters counters;
  std::atomic<int> pending{options.clients};
  for (int i = 0; i < options.clients; ++i) {
    clients.push_back(std::make_unique<Client>(io));
    Client& c = *clients.back();
    c.subscribe = nlohmann::json{{"subscribe", {{"productKey", options.product_key}}}}.dump();
    c.ws.set_option(websocket::stream_base::decorator([token = options.token](websocket::request_type& req) {
      if (!token.empty()) {
        req.set(beast::http::field::authorization, "Bearer " + token);
      }
    }));
    asio::async_connect(beast::get_lowest_layer(c.ws), endpoints,
                        [&, host_header](beast::error_code ec, const tcp::endpoint&) {
                          if (ec) {
                            c.state = -1;
                            c.error = "connect: " + ec.message();
                            --pending;
                            return;
                          }
                          c.ws.async_handshake(host_header, options.target, [&](beast::error_code hec) {
                            if (hec) {
                              c.state = -1;
                              c.error = "upgrade: " + hec.message();
                              --pending;
                              return;
                            }
                            c.ws.text(true);
                            c.ws.async_write(asio::buffer(c.subscribe),
                                             [&](beast::error_code wec, std::size_t) {
                                               if (wec) {
                                                 c.state = -1;
                                                 c.error = "subscribe: " + wec.message();
                                               } else {
                                                 c.state = 1;
                                                 Read(c, counters);
                                               }
                                               --pending;
                                             });
                          });
                        });
  }
  std::thread thread([&] { io.run(); });
  const std::int64_t connect_deadline = NowNs() + 10'000'000'000;
  while (pending.load() > 0 && NowNs() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  int connected = 0;
  std::map<std::string, std::uint64_t> failures;
  asio::post(io, [&] {
    for (auto& c : clients) {
      if (c->state == 1) {
        ++connected;
      }
      if (c->state == -1) {
        ++failures[c->error];
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (connected == 0) {
    guard.reset();
    io.stop();
    thread.join();
    throw std::runtime_error("stream: no client connected" +
                             (failures.empty() ? std::string() : " (" + failures.begin()->first + ")"));
  }
  std::fprintf(stderr, "stream: %d of %d clients subscribed to %s\n", connected, options.clients,
               options.product_key.c_str());
  const std::int64_t cpu0 = SelfCpuUs();
  const std::int64_t t0 = NowNs();
  const std::int64_t end =
      options.duration_s > 0 ? t0 + static_cast<std::int64_t>(options.duration_s * 1e9) : INT64_MAX;
  while (!stop.load() && NowNs() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::int64_t t1 = NowNs();
  const std::int64_t cpu1 = SelfCpuUs();
  nlohmann::json out;
  std::promise<void> done;
  asio::post(io, [&] {
    out["mode"] = "stream";
    out["clients"] = options.clients;
    out["connected"] = connected;
    out["failed"] = failures;
    out["messages"] = counters.messages;
    out["bytes"] = counters.bytes;
    out["by_type"] = counters.by_type;
    nlohmann::json closed = nlohmann::json::object();
    for (const auto& [code, n] : counters.closed_by_server) {
      closed[std::to_string(code)] = n;
    }
    out["closed_by_server"] = closed;
    for (auto& c : clients) {
      if (c->state == 1) {
        c->state = 2;
        beast::error_code ignored;
        beast::get_lowest_layer(c->ws).close(ignored);
      }
    }
    done.set_value();
  });
  done.get_future().wait();
  guard.reset();
  io.stop();
  thread.join();
  const double seconds = static_cast<double>(t1 - t0) / 1e9;
  out["seconds"] = Round(seconds, 3);
  const auto messages = out["messages"].get<std::uint64_t>();
  out["cpu"] = {
      {"generator",
       {{"cpu_ms", Round(static_cast<double>(cpu1 - cpu0) / 1000.0, 1)},
        {"us_per_message",
         messages > 0 ? Round(static_cast<double>(cpu1 - cpu0) / static_cast<double>(messages), 2) : 0.0}}}};
  return out;
}

}  // namespace iot::loadgen

// Smoke test of iot-loadgen (bench/loadgen), the generator of the connect-storm and end-to-end
// benchmarks: the real binary against a private Mosquitto with the project's plugin, devices registered
// through the store. A publish run is answered by an echo responder written here on Paho (an
// independent MQTT implementation), so the generator's counts and latencies are checked from outside.

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/store/db.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/migrator.hpp"
#include "iot/store/products.hpp"
#include "iot/testing/catch_result.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/mosquitto_process.hpp"
#include "iot/testing/pg_database.hpp"
#include "iot/testing/process.hpp"
#include "mqtt_codec.hpp"

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kPk = "loadgenTest1";
constexpr int kDevices = 50;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A database with 50 registered devices, their credentials in a CSV file, and a broker with the plugin.
struct Stack {
  iot::testing::PgDatabase database;
  iot::store::Db db{iot::store::DbSettings{database.Dsn()}};
  std::string dir = iot::testing::MakeTempDir("loadgen");
  std::string csv = dir + "/devices.csv";
  std::vector<iot::store::Device> devices;
  std::unique_ptr<iot::testing::MosquittoProcess> broker;

  Stack() {
    iot::store::Migrator migrator(database.Dsn());
    REQUIRE(migrator.Migrate());
    iot::store::ProductCreate product;
    product.product_key = kPk;
    product.name = "loadgen smoke test";
    REQUIRE(iot::store::CreateProduct(db, product));
    std::vector<iot::store::DeviceCreate> batch(kDevices);
    for (int i = 0; i < kDevices; ++i) {
      batch[static_cast<std::size_t>(i)].device_name = "dev" + std::to_string(1000 + i);
    }
    auto created = iot::store::CreateDevices(db, kPk, batch);
    REQUIRE(created);
    devices = *created;
    std::ofstream out(csv);
    out << "pk,dn,secret\n";
    for (const auto& d : devices) {
      out << d.product_key << ',' << d.device_name << ',' << d.secret << '\n';
    }
    out.close();
    broker = std::make_unique<iot::testing::MosquittoProcess>(
        iot::testing::MosquittoOptions{database.Dsn(), false, 1});
  }

  // Runs iot-loadgen with `args`; returns its exit status and fills `summary` from its --json file.
  int Run(const std::string& args, json& summary) {
    static int run = 0;
    const std::string out = dir + "/run" + std::to_string(++run);
    const int rc = iot::testing::RunShell(std::string(IOT_LOADGEN_PATH) + " " + args + " --port " +
                                              std::to_string(broker->Port()) + " --json " + out + ".json",
                                          out + ".log");
    INFO("iot-loadgen output:\n" << ReadFile(out + ".log"));
    const std::string text = ReadFile(out + ".json");
    REQUIRE_FALSE(text.empty());
    summary = json::parse(text);
    UNSCOPED_INFO("summary: " << summary.dump().substr(0, 3000));
    return rc;
  }
};

// Answers every property post like the gateway would: code 200 on `<topic>_reply` (QoS 0), except
// for one device, whose posts get 460, so that codes are told apart.
class EchoResponder {
 public:
  EchoResponder(const std::string& uri, std::string refused_device)
      : refused_device_(std::move(refused_device)) {
    REQUIRE(client_.Connect(uri, "loadgen-echo", iot::testing::kGatewayUser, iot::testing::kGatewaySecret) ==
            0);
    REQUIRE(client_.Subscribe("/sys/+/+/thing/event/property/post", 1) == 1);
    thread_ = std::thread([this] { Loop(); });
  }
  ~EchoResponder() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }

  std::atomic<int> answered{0};
  std::atomic<int> malformed{0};

 private:
  void Loop() {
    while (!stop_) {
      auto msg = client_.WaitMessage("", 100ms);
      if (!msg) {
        continue;
      }
      json post;
      try {
        post = json::parse(msg->payload);
      } catch (const json::exception&) {
        ++malformed;
        continue;
      }
      if (post.value("method", "") != "thing.event.property.post" || !post["id"].is_string() ||
          post["params"].size() != 5 || post.value("version", "") != "1.0") {
        ++malformed;
      }
      const bool refused = msg->topic.find("/" + refused_device_ + "/") != std::string::npos;
      json reply = {{"code", refused ? 460 : 200},
                    {"data", json::object()},
                    {"id", post.value("id", "")},
                    {"message", refused ? "request parameter error" : "success"},
                    {"method", "thing.event.property.post"},
                    {"version", "1.0"}};
      client_.Publish(msg->topic + "_reply", reply.dump(), 0);
      ++answered;
    }
  }

  iot::testing::MqttTestClient client_;
  std::string refused_device_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("Loadgen: 50 devices connect-storm, every CONNACK 0 and one online and offline message each",
          "[integration][loadgen]") {
  Stack stack;
  json s;
  const int rc = stack.Run("connect-storm --devices-csv " + stack.csv +
                               " --window 20 --hold 0.5 --watch-user iot-gateway --watch-secret " +
                               iot::testing::kGatewaySecret,
                           s);
  CHECK(rc == 0);
  CHECK(s["connected"] == kDevices);
  CHECK(s["failed"] == 0);
  CHECK(s["failures"].empty());
  CHECK(s["connack_latency_ms"]["count"] == kDevices);
  CHECK(s["connack_latency_ms"]["max"].get<double>() > 0);
  CHECK(s["connects_per_s"].get<double>() > 0);
  CHECK(s["disconnected_cleanly"] == kDevices);
  CHECK(s["lifecycle"]["online_msgs"] == kDevices);
  CHECK(s["lifecycle"]["online_devices"] == kDevices);
  CHECK(s["lifecycle"]["offline_msgs"] == kDevices);
  CHECK(s["lifecycle"]["ok"] == true);
  CHECK(s["cpu_connect_phase"]["generator"]["us_per_connect"].get<double>() >= 0);
}

TEST_CASE("Loadgen: wrong secrets are refused and counted by CONNACK code", "[integration][loadgen]") {
  Stack stack;
  const std::string bad_csv = stack.dir + "/bad.csv";
  {
    std::ofstream out(bad_csv);
    for (int i = 0; i < 5; ++i) {
      out << kPk << ',' << stack.devices[static_cast<std::size_t>(i)].device_name << ",wrong\n";
    }
    out << kPk << ',' << stack.devices[5].device_name << ',' << stack.devices[5].secret << '\n';
  }
  json s;
  CHECK(stack.Run("connect-storm --devices-csv " + bad_csv, s) == 1);
  CHECK(s["connected"] == 1);
  CHECK(s["failed"] == 5);
  CHECK(s["failures"]["connack_5"] == 5);
}

TEST_CASE("Loadgen: publish posts are all answered by an echo responder, replies matched by id",
          "[integration][loadgen]") {
  Stack stack;
  const std::string refused = stack.devices.back().device_name;
  EchoResponder echo(stack.broker->Uri(), refused);
  json s;
  const int rc = stack.Run("publish --devices-csv " + stack.csv + " --rate 200 --duration 2 --drain 10", s);
  echo.Stop();
  CHECK(rc == 0);
  CHECK(s["connect"]["connected"] == kDevices);
  const auto sent = s["posts_sent"].get<int>();
  CHECK(sent >= 300);  // 400 scheduled; a loaded CI machine may fall behind a little
  CHECK(sent <= 410);
  CHECK(echo.malformed == 0);
  CHECK(echo.answered == sent);
  CHECK(s["replies"] == sent);
  CHECK(s["unanswered"] == 0);
  CHECK(s["duplicate_replies"] == 0);
  CHECK(s["unknown_id_replies"] == 0);
  CHECK(s["pubacks"] == sent);  // QoS 1 by default
  CHECK(s["latency_ms"]["count"] == sent);
  CHECK(s["latency_ms"]["p50"].get<double>() > 0);
  CHECK(s["latency_ms"]["p99"].get<double>() >= s["latency_ms"]["p50"].get<double>());
  CHECK(s["cpu_publish_phase"]["generator"].contains("us_per_post"));

  // Per device: ids 1..sent, all answered 200 except the refused device's (460).
  REQUIRE(s["per_device"].size() == kDevices);
  int ok_total = 0, refused_sent = 0;
  for (const auto& d : s["per_device"]) {
    const int dev_sent = d["sent"].get<int>();
    CHECK(dev_sent > 0);
    if (d["dn"] == refused) {
      refused_sent = dev_sent;
      CHECK(d["answered_200"] == 0);
      CHECK(d["ids_200"].empty());
    } else {
      CHECK(d["answered_200"] == dev_sent);
      CHECK(d["ids_200"] == json::array({json::array({1, dev_sent})}));
    }
    ok_total += d["answered_200"].get<int>();
  }
  CHECK(s["answered_200"] == ok_total);
  CHECK(s["replies_by_code"]["200"] == ok_total);
  CHECK(s["replies_by_code"]["460"] == refused_sent);
}

TEST_CASE("Loadgen: publish with --first-id numbers posts from it and reports a per-second timeline",
          "[integration][loadgen]") {
  Stack stack;
  EchoResponder echo(stack.broker->Uri(), "");
  json s;
  const int rc = stack.Run(
      "publish --devices-csv " + stack.csv + " --rate 100 --duration 2 --drain 10 --first-id 5000001", s);
  echo.Stop();
  CHECK(rc == 0);
  CHECK(s["first_id"] == 5000001);
  const auto sent = s["posts_sent"].get<int>();
  CHECK(sent > 0);
  CHECK(s["replies"] == sent);
  CHECK(s["unknown_id_replies"] == 0);
  CHECK(echo.answered == sent);
  // Every device's ids run from --first-id, all answered 200.
  REQUIRE(s["per_device"].size() == kDevices);
  int total = 0;
  for (const auto& d : s["per_device"]) {
    const int dev_sent = d["sent"].get<int>();
    total += dev_sent;
    if (dev_sent > 0) {
      CHECK(d["ids_200"] == json::array({json::array({5000001, 5000000 + dev_sent})}));
    }
  }
  CHECK(total == sent);
  // One row a second of [seconds, sent, replies, outstanding]: counts never go down, and the last
  // row (taken during the drain or after the pace) never shows more sent than the total.
  REQUIRE(s["timeline"].is_array());
  REQUIRE(s["timeline"].size() >= 1);
  std::uint64_t last_sent = 0;
  for (const auto& row : s["timeline"]) {
    REQUIRE(row.size() == 4);
    CHECK(row[1].get<std::uint64_t>() >= last_sent);
    CHECK(row[1].get<std::uint64_t>() <= static_cast<std::uint64_t>(sent));
    CHECK(row[2].get<std::uint64_t>() <= row[1].get<std::uint64_t>());
    last_sent = row[1].get<std::uint64_t>();
  }
}

TEST_CASE("Loadgen: --first-id and --sample are checked and sampled process trees are measured",
          "[integration][loadgen]") {
  Stack stack;
  json s;
  // A bad first id or sample spec is a usage error (exit 2) with no summary written.
  const std::string base = std::string(IOT_LOADGEN_PATH) + " publish --devices-csv " + stack.csv +
                           " --port " + std::to_string(stack.broker->Port()) + " --rate 10 --duration 1";
  CHECK(iot::testing::RunShell(base + " --first-id 0", stack.dir + "/bad1.log") == 2);
  CHECK(ReadFile(stack.dir + "/bad1.log").find("--first-id") != std::string::npos);
  CHECK(iot::testing::RunShell(base + " --sample pg=+x1", stack.dir + "/bad2.log") == 2);
  CHECK(ReadFile(stack.dir + "/bad2.log").find("bad --sample") != std::string::npos);

  // The broker as a tree (+PID: itself and any children) is sampled like the plain PID.
  EchoResponder echo(stack.broker->Uri(), "");
  const std::string pid = std::to_string(stack.broker->Process().Pid());
  const int rc =
      stack.Run("publish --devices-csv " + stack.csv +
                    " --rate 200 --duration 2 --drain 10 --sample plain=" + pid + " --sample tree=+" + pid,
                s);
  echo.Stop();
  CHECK(rc == 0);
  const auto& cpu = s["cpu_publish_phase"];
  REQUIRE(cpu.contains("plain"));
  REQUIRE(cpu.contains("tree"));
  CHECK(cpu["plain"]["cpu_ms"].get<double>() > 0);
  CHECK(cpu["tree"]["cpu_ms"].get<double>() >= cpu["plain"]["cpu_ms"].get<double>());
}

TEST_CASE("Loadgen: stream mode fails clearly when no client can connect", "[integration][loadgen]") {
  const std::string dir = iot::testing::MakeTempDir("loadgen-stream");
  // A port nothing listens on (the kernel's pick, released): every client is refused.
  const int port = iot::testing::FreePort();
  const int rc =
      iot::testing::RunShell(std::string(IOT_LOADGEN_PATH) + " stream --port " + std::to_string(port) +
                                 " --product-key pk1 --clients 3 --duration 1",
                             dir + "/stream.log");
  CHECK(rc == 2);
  CHECK(ReadFile(dir + "/stream.log").find("no client connected") != std::string::npos);
  CHECK(iot::testing::RunShell(std::string(IOT_LOADGEN_PATH) + " stream --port 1", dir + "/usage.log") == 2);
  CHECK(ReadFile(dir + "/usage.log").find("--product-key") != std::string::npos);
}

TEST_CASE("Loadgen codec: reply fields are read from the top level of the JSON only",
          "[integration][loadgen]") {
  using iot::loadgen::TopLevelJsonValue;
  const std::string reply =
      R"({"code":200,"data":{"id":"x","code":1,"s":"a\"}"},"id" : "42" ,"message":"success"})";
  CHECK(TopLevelJsonValue(reply, "id") == "42");
  CHECK(TopLevelJsonValue(reply, "code") == "200");
  CHECK(TopLevelJsonValue(reply, "message") == "success");
  CHECK(TopLevelJsonValue(reply, "missing").empty());
  CHECK(TopLevelJsonValue("not json", "id").empty());
  CHECK(TopLevelJsonValue(R"({"id":)", "id").empty());
}

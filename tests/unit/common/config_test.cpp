#include "iot/common/config.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

namespace {

iot::EnvLookup Env(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(values));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("ConfigReader: file key, then the environment, which wins", "[common][config]") {
  const auto file = nlohmann::json::parse(R"({"port":9000,"http":{"bind":"::1","rate":2.5},"name":"f"})");
  std::vector<std::string> problems;
  iot::ConfigReader read(file, Env({{"IOT_NAME", "e"}}), problems);
  int port = 1;
  std::string bind = "127.0.0.1";
  std::string name = "d";
  double rate = 1;
  std::string untouched = "keep";
  read.Int("port", "IOT_PORT", 0, 65535, port);
  read.String("http.bind", "IOT_BIND", bind);
  read.Double("http.rate", "IOT_RATE", 0, 10, rate);
  read.String("name", "IOT_NAME", name);
  read.String("http.missing", "IOT_MISSING", untouched);
  CHECK(problems.empty());
  CHECK(port == 9000);
  CHECK(bind == "::1");
  CHECK(rate == 2.5);
  CHECK(name == "e");
  CHECK(untouched == "keep");
}

TEST_CASE("ConfigReader: an empty environment variable counts as unset", "[common][config]") {
  const auto file = nlohmann::json::parse(R"({"name":"from-file","port":9000})");
  std::vector<std::string> problems;
  iot::ConfigReader read(file, Env({{"IOT_NAME", ""}, {"IOT_PORT", ""}, {"IOT_OTHER", ""}, {"IOT_RATE", ""}}),
                         problems);
  std::string name = "default";
  std::string other = "default";
  int port = 1;
  double rate = 3;
  read.String("name", "IOT_NAME", name);
  read.String("", "IOT_OTHER", other);
  read.Int("port", "IOT_PORT", 0, 65535, port);
  read.Double("", "IOT_RATE", 0, 10, rate);
  CHECK(problems.empty());
  CHECK(name == "from-file");
  CHECK(other == "default");
  CHECK(port == 9000);
  CHECK(rate == 3);
  CHECK(read.Env("IOT_OTHER") == nullptr);
  CHECK(read.Env("IOT_UNSET") == nullptr);
}

TEST_CASE("ConfigReader: every problem in the same words, the setting keeps its value", "[common][config]") {
  const auto file = nlohmann::json::parse(R"({"name":1,"port":"80","http":{"threads":0},"rate":"x"})");
  std::vector<std::string> problems;
  iot::ConfigReader read(
      file, Env({{"IOT_A", "12x"}, {"IOT_B", "70000"}, {"IOT_C", "1e400"}, {"IOT_D", "-1"}}), problems);
  std::string name = "n";
  int port = 5;
  int threads = 2;
  int a = 1;
  long long b = 2;
  double rate = 1;
  double c = 1;
  double d = 1;
  read.String("name", nullptr, name);
  read.Int("port", nullptr, 1, 65535, port);
  read.Int("http.threads", nullptr, 1, 256, threads);
  read.Double("rate", nullptr, 0, 10, rate);
  read.Int("", "IOT_A", 0, 100, a);
  read.Int("", "IOT_B", 0, 65535, b);
  read.Double("", "IOT_C", 0, 10, c);
  read.Double("", "IOT_D", 0, 1e6, d);
  CHECK(problems == std::vector<std::string>{"name: must be a string", "port: must be an integer",
                                             "http.threads: 0 is outside 1..256", "rate: must be a number",
                                             "IOT_A: not an integer: 12x", "IOT_B: 70000 is outside 0..65535",
                                             "IOT_C: not a number: 1e400", "IOT_D: -1 is outside 0..1e+06"});
  CHECK(name == "n");
  CHECK(port == 5);
  CHECK(threads == 2);
  CHECK(a == 1);
  CHECK(b == 2);
  CHECK(c == 1);
  CHECK(d == 1);
}

TEST_CASE("ReadConfigFile: none, unreadable, malformed, not an object", "[common][config]") {
  CHECK(iot::ReadConfigFile("") == nlohmann::json::object());
  CHECK_THROWS_WITH(iot::ReadConfigFile("/nonexistent/x.json"),
                    Catch::Contains("cannot read config file /nonexistent/x.json"));
  const std::string path = "/tmp/iot-common-config-test-" + std::to_string(::getpid()) + ".json";
  { std::ofstream(path) << "{\"a\":"; }
  CHECK_THROWS_WITH(iot::ReadConfigFile(path), Catch::Contains(path + ": malformed JSON"));
  { std::ofstream(path) << "[1]"; }
  CHECK_THROWS_WITH(iot::ReadConfigFile(path), Catch::Contains(path + ": not a JSON object"));
  std::remove(path.c_str());
}

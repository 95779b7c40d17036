// Device behaviour that needs no broker: argument checks, and requests made before Start() ending
// with kStopped on Stop() (the connection is never attempted).
#include "iot/device/device.hpp"

#include <atomic>
#include <stdexcept>

#include <catch2/catch.hpp>

using namespace iot::device;

namespace {

DeviceOptions Options() {
  DeviceOptions o;
  o.broker_uri = "tcp://127.0.0.1:1";
  o.product_key = "pk01";
  o.device_name = "dev01";
  o.device_secret = "secret";
  o.window = 2;
  return o;
}

}  // namespace

TEST_CASE("Device: a broker URI Paho cannot use is refused at construction", "[device][device]") {
  DeviceOptions o = Options();
  o.broker_uri = "gopher://127.0.0.1:1";
  CHECK_THROWS_AS(Device(o), std::invalid_argument);
}

TEST_CASE("Device: bad arguments are refused before anything is sent", "[device][device]") {
  Device d(Options());
  CHECK(d.PostProperties(nlohmann::json::array()).outcome == Outcome::kInvalid);
  CHECK(d.PostEvent("bad/id", nlohmann::json::object()).outcome == Outcome::kInvalid);
  CHECK(d.PostEventAsync("Alarm", 5, std::nullopt, nullptr) == Outcome::kInvalid);
  CHECK(d.DeleteDesired("x").outcome == Outcome::kInvalid);
}

TEST_CASE("Device: the window bounds async requests - Stop ends the waiting ones", "[device][device]") {
  std::atomic<int> stopped{0};
  {
    Device d(Options());
    auto done = [&](const Reply& r) {
      if (r.outcome == Outcome::kStopped) {
        ++stopped;
      }
    };
    CHECK(d.PostPropertiesAsync({{"a", 1}}, done) == Outcome::kReplied);
    CHECK(d.PostPropertiesAsync({{"a", 2}}, done) == Outcome::kReplied);
    CHECK(d.PostPropertiesAsync({{"a", 3}}, done) == Outcome::kWindowFull);
    CHECK_FALSE(d.IsReady());
    d.Stop();
    CHECK(d.PostPropertiesAsync({{"a", 4}}, done) == Outcome::kStopped);
    CHECK(d.Stats().publishes == 0);
  }  // a Runtime runs what is queued before its threads end
  CHECK(stopped == 2);
}

// A lamp on the IoT device cloud, written with the device SDK (libs/device).
//
//   iot-example-lamp tcp://127.0.0.1:1883 <productKey> <deviceName> <deviceSecret>
//
// Its product's thing model needs an rw bool property "LightSwitch", an rw int "Brightness" (0-100)
// and an async service "Blink" with an int input "Times". It reports its state every 10 s, obeys
// property sets from the platform and answers Blink. Ctrl-C stops it.
#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "iot/device/device.hpp"

namespace {
std::atomic<bool> g_stop{false};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " <broker uri> <productKey> <deviceName> <deviceSecret>\n";
    return 2;
  }
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });

  iot::device::DeviceOptions options;
  options.broker_uri = argv[1];  // ssl://host:8883 with options.ca_file for TLS
  options.product_key = argv[2];
  options.device_name = argv[3];
  options.device_secret = argv[4];
  iot::device::Device lamp(options);

  std::atomic<int> on{0};
  std::atomic<int> brightness{80};

  // Handlers run on the SDK's worker thread, so they may post (even blocking) safely.
  lamp.OnPropertySet([&](const iot::device::DownlinkRequest& request, iot::device::Responder reply) {
    if (request.params.contains("LightSwitch")) {
      on = request.params["LightSwitch"].get<int>();
    }
    if (request.params.contains("Brightness")) {
      brightness = request.params["Brightness"].get<int>();
    }
    reply.Ok();
    lamp.PostProperties({{"LightSwitch", on.load()}, {"Brightness", brightness.load()}});
  });
  lamp.OnService("Blink", [](const iot::device::DownlinkRequest& request, iot::device::Responder reply) {
    const int times = request.params.value("Times", 1);
    std::cout << "blinking " << times << " times\n";
    reply.Ok({{"Blinked", times}});
  });
  lamp.OnConnectionChange([](bool ready, const std::string& cause) {
    std::cout << (ready ? "connected" : "disconnected: " + cause) << std::endl;
  });

  if (!lamp.Connect(std::chrono::seconds(10))) {
    std::cerr << "cannot connect: " << lamp.LastError() << "\n";
    return 1;
  }
  const iot::device::TimeSync clock = lamp.SyncTime();
  if (clock.ok()) {
    std::cout << "clock offset to the platform: " << clock.offset_ms << " ms\n";
  }

  while (!g_stop) {
    const iot::device::Reply reply =
        lamp.PostProperties({{"LightSwitch", on.load()}, {"Brightness", brightness.load()}});
    std::cout << "post: " << iot::device::OutcomeName(reply.outcome) << " code " << reply.code;
    for (const auto& refusal : reply.refusals) {
      std::cout << " [" << refusal.identifier << ": " << refusal.code << " " << refusal.message << "]";
    }
    std::cout << std::endl;
    for (int i = 0; i < 100 && !g_stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return 0;
}

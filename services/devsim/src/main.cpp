// iot-devsim: simulated devices of one product (see Usage() in options.cpp and the README).
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "options.hpp"
#include "simulator.hpp"

namespace {
std::atomic<bool> g_stop{false};
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const char* env_token = std::getenv("IOT_ADMIN_TOKEN");
  iot::devsim::Options options;
  std::string print;
  try {
    options = iot::devsim::ParseOptions(args, env_token ? env_token : "", print);
  } catch (const std::invalid_argument& e) {
    std::cerr << "iot-devsim: " << e.what() << "\n\n" << iot::devsim::Usage();
    return 2;
  }
  if (!print.empty()) {
    std::cout << print;
    return 0;
  }
  // Ctrl-C ends the posting early; the summary is still printed.
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });
  return iot::devsim::RunSimulation(options, std::cout, std::cerr, g_stop);
}

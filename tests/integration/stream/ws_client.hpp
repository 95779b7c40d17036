#pragma once

// A WebSocket client for the stream tests (Boost.Beast, an implementation independent of the server's
// transport code): handshake with a chosen target and headers, then an I/O thread reads messages into
// a queue once reading is started, so a test can also play a client that never reads.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace iot::stream::itest {

class WsClient {
 public:
  struct Options {
    std::string target = "/api/v1/stream";
    std::string bearer;      // "" = no Authorization header
    int receive_buffer = 0;  // SO_RCVBUF before connecting (0 = system default)
    bool start_reading = true;
  };

  // Connects and upgrades. On a refused upgrade returns null and sets `status` (and `body`).
  static std::unique_ptr<WsClient> Connect(int port, const Options& options, int* status = nullptr,
                                           std::string* body = nullptr);
  ~WsClient();

  void Send(const std::string& text);
  void StartReading();
  // The next message (parsed), nullopt after `timeout` or once the connection has ended.
  std::optional<nlohmann::json> Next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Skips messages until one matches; nullopt on timeout/close.
  std::optional<nlohmann::json> WaitFor(const std::function<bool(const nlohmann::json&)>& match,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Whether a message arrives within `timeout` (for "nothing more arrives" checks; consumes it).
  bool Quiet(std::chrono::milliseconds timeout);
  // Blocks until the connection ended (or timeout); the close code the server sent (0 if none).
  std::optional<int> WaitClosed(std::chrono::milliseconds timeout);
  std::size_t Received() const;

  struct Impl;

 private:
  explicit WsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace iot::stream::itest

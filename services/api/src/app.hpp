#pragma once

// The object graph of iot-api: the DB pool, token authentication, the routes and their handlers,
// device control (with its own broker session), thing-model dry runs, background jobs, the live
// stream and the HTTP server. main.cpp reads the configuration and runs one App.

#include <memory>
#include <optional>
#include <string>

#include "config.hpp"

namespace iot::api {

class App final {
 public:
  explicit App(Config config);
  ~App();  // Stop()
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // What makes `config` unusable for an App (exit code 2 in main), or nullopt.
  static std::optional<std::string> ConfigProblem(const Config& config);

  // Migrates the schema (an older database is brought forward, a newer one refused), stores the
  // bootstrap admin token, builds the object graph and starts its threads and listeners. False, with
  // the reason logged, when the service cannot start. Throws on failures the graph reports by
  // exception (a port that cannot be bound, ...).
  bool Start();
  // Serves until SIGTERM/SIGINT, then until the requests in flight are answered.
  void Run();
  // Stops everything Start started, in reverse order. Idempotent.
  void Stop();

 private:
  struct Parts;  // the running graph (app.cpp): members that refer to each other, built in order

  Config config_;
  std::unique_ptr<Parts> parts_;
};

}  // namespace iot::api

#pragma once

#include <atomic>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/tsl/thing_model.hpp"
#include "options.hpp"
#include "values.hpp"

namespace iot::devsim {

struct Credential {
  std::string product_key;
  std::string device_name;
  std::string device_secret;
};

// [{"productKey","deviceName","deviceSecret"}]. Throw std::runtime_error with the reason.
std::vector<Credential> ReadCredentials(const std::string& path);
void WriteCredentials(const std::string& path, const std::vector<Credential>& credentials);

// What one post carries.
struct PostPlan {
  bool event = false;
  std::string event_id;
  nlohmann::json params = nlohmann::json::object();  // properties, or the event's outputs
  bool invalid = false;
};

// Up to `properties` distinct properties (or, with probability `event_share`, an event with all its
// outputs); with probability `invalid_share` one value is replaced by an invalid one.
PostPlan MakePost(const tsl::Module& model, ValueGenerator& values, const Options& options,
                  std::int64_t now_ms);

// A sensor post of one device: its `properties` (indices into the model's properties), each moved on by
// `values`; with probability `invalid_share` one value is replaced by an invalid one.
PostPlan MakeSensorPost(const tsl::Module& model, SensorValues& values, const Options& options,
                        std::size_t device, const std::vector<std::size_t>& properties, std::int64_t now_ms);

// The whole program: set up, simulate, print the summary. Returns the exit status. `stop` ends
// the posting early (Ctrl-C).
int RunSimulation(const Options& options, std::ostream& out, std::ostream& err,
                  const std::atomic<bool>& stop);

}  // namespace iot::devsim

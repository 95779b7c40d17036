#pragma once

// Thing-model dry runs: what a draft (or any version) would have done to the traffic devices actually
// sent. DryRunTally re-validates recorded items (pure: no I/O); DryRunner runs the jobs one at a time
// on a thread of its own with its own connections: it reads the window's accepted history, events and
// rejections device by device in pages, paced to a row rate so ingest keeps its rate, records
// progress and stores the result with the run (schemas/sql/006).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/store/db.hpp"
#include "iot/tsl/thing_model.hpp"
#include "iot/tsl/validator.hpp"

namespace iot::api {

struct DryRunLimits {
  std::size_t examples = 10;   // per identifier and direction
  std::size_t devices = 1000;  // devices listed in the result (most affected first)
};

// Counts, per identifier and per device, the recorded items whose verdict the model changes.
class DryRunTally {
 public:
  DryRunTally(const tsl::ThingModel* model, tsl::Mode mode, DryRunLimits limits = {});

  // An accepted property value (JSON text as stored) with its device time.
  void AcceptedProperty(const std::string& device, const std::string& identifier,
                        const std::string& value_json, std::int64_t time_ms) {
    Accepted(false, device, identifier, value_json, time_ms);
  }
  // An accepted event with its outputs object.
  void AcceptedEvent(const std::string& device, const std::string& identifier, const std::string& output_json,
                     std::int64_t time_ms) {
    Accepted(true, device, identifier, output_json, time_ms);
  }
  // A stored rejection. Only item refusals of property and event posts over data-type checks can be
  // re-validated (the value is what the device sent); the others are counted as skipped.
  void Rejection(const std::string& device, const std::string& method, const std::string& identifier,
                 const std::string& value, int code, const std::string& message, std::int64_t time_ms);

  std::uint64_t examined() const { return accepted_ + refused_ + skipped_; }
  // {"identifiers":[...],"devices":[...],"examined":{...},"acceptedToRefused","refusedToAccepted"}
  nlohmann::json ToJson(bool truncated) const;

 private:
  struct IdentifierCounts {
    std::uint64_t accepted_to_refused = 0;
    std::uint64_t refused_to_accepted = 0;
    nlohmann::json examples = nlohmann::json::array();
    std::size_t a2r_examples = 0;
    std::size_t r2a_examples = 0;
  };
  struct DeviceCounts {
    std::uint64_t accepted_to_refused = 0;
    std::uint64_t refused_to_accepted = 0;
  };

  void Accepted(bool event, const std::string& device, const std::string& identifier,
                const std::string& value_json, std::int64_t time_ms);
  void Flip(bool to_refused, const std::string& device, const std::string& identifier,
            const nlohmann::json& value, std::int64_t time_ms, int code, const std::string& message);

  tsl::Validator validator_;
  tsl::Mode mode_;
  DryRunLimits limits_;
  tsl::Report report_;
  std::map<std::string, IdentifierCounts> identifiers_;
  std::map<std::string, DeviceCounts> devices_;
  std::uint64_t accepted_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t skipped_ = 0;
};

struct DryRunSettings {
  store::DbSettings write_db;   // progress and results (the primary)
  store::DbSettings read_db;    // recorded traffic (a replica when IOT_DRY_RUN_DSN names one)
  int rows_per_second = 20000;  // pacing of the reads; 0 = unpaced
  std::size_t queue_capacity = 4;
  std::uint64_t max_rows = 5'000'000;  // a larger window is cut here (result "truncated")
  int page_rows = 1000;
  DryRunLimits limits;
};

struct DryRunJob {
  std::int64_t id = 0;
  std::string product_key;
  std::shared_ptr<const tsl::ThingModel> model;
  tsl::Mode mode = tsl::Mode::kWeak;
  std::int64_t from = 0;
  std::int64_t to = 0;
};

class DryRunner final {
 public:
  explicit DryRunner(DryRunSettings settings);
  ~DryRunner();  // Stop()
  DryRunner(const DryRunner&) = delete;
  DryRunner& operator=(const DryRunner&) = delete;

  // Marks runs left running by a previous process failed, then starts the worker.
  void Start();
  // Finishes the current page, marks the running and queued jobs failed, joins.
  void Stop();
  // False when the queue is full or the runner is stopping (the caller marks the run failed).
  bool Submit(DryRunJob job);

 private:
  void Loop();
  void Execute(const DryRunJob& job);
  // Sleeps so that `rows` more rows keep the configured rate; false when stopping.
  bool Pace(std::size_t rows);

  DryRunSettings settings_;
  store::Db write_db_;
  store::Db read_db_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<DryRunJob> queue_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace iot::api

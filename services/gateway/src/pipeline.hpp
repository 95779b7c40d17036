#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bounded_queue.hpp"
#include "directory.hpp"
#include "handler.hpp"
#include "iot/common/clock.hpp"
#include "iot/common/result.hpp"
#include "metrics.hpp"
#include "work.hpp"

namespace iot::gateway {

// Where the writer thread stores batches and runs side effects (the store, or a fake in tests).
// Used by the writer thread only.
class Backend {
 public:
  virtual ~Backend() = default;
  // One transaction for the batch; one result per message in order. An error means nothing was
  // stored (PostgreSQL away, ...): the pipeline retries the same batch with backoff.
  virtual Result<std::vector<store::MessageResult>> WriteTelemetry(
      std::span<const store::TelemetryMessage> batch) = 0;
  // Runs one side effect other than a lifecycle event (those go to ApplyLifecycles); what it reads
  // (DesiredGetOp's values) goes to `result`.
  virtual OpStatus Execute(const Op& op, OpResult& result) = 0;
  // Applies a batch's device online/offline events in order, in one transaction: a connect storm
  // of N devices would otherwise cost N commits (each with its fsync) ahead of the telemetry replies.
  virtual OpStatus ApplyLifecycles(std::span<const store::LifecycleEvent> events) = 0;
};

// Publishes replies. Thread-safe (the writer and, for NTP, shard workers... all go through the writer).
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual bool Publish(const std::string& topic, const std::string& payload) = 0;
};

struct PipelineSettings {
  int workers = 2;                  // shard workers; a device always maps to the same one
  std::size_t writer_queue = 4096;  // handled messages waiting for the writer (Push blocks above)
  std::size_t batch_max = 512;      // messages per transaction
  // Longest wait to fill a batch; the wait used is the previous batch's processing time, up to this.
  std::chrono::milliseconds batch_delay{15};
  std::chrono::milliseconds retry_min{50};  // PostgreSQL away: backoff between attempts
  std::chrono::milliseconds retry_max{2000};
};

// Shard workers (decode + validate) feeding one batch writer (commit, then reply). A device's
// messages go to one shard (hash of "pk/dn" in the topic), the shard hands them to the writer in
// order and the writer commits and answers batches in order: per-device order is kept end to end.
class Pipeline {
 public:
  Pipeline(PipelineSettings settings, HandlerSettings handler_settings, Directory& directory,
           Backend& backend, Publisher& publisher, Metrics& metrics);
  // One batch writer per backend (each its own connection); shard i feeds writer i % writers, so a
  // device's messages still commit and are answered in order. Writers beyond the workers are unused.
  Pipeline(PipelineSettings settings, HandlerSettings handler_settings, Directory& directory,
           std::vector<Backend*> backends, Publisher& publisher, Metrics& metrics);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  void Start();
  // Stops taking work, finishes what is held (retrying the database until `drain` has passed),
  // then joins the threads. Messages still held after `drain` are abandoned unanswered (the device
  // resends them) and counted in the log.
  void Stop(std::chrono::milliseconds drain = std::chrono::seconds(10));

  // From the Paho callback: never blocks, never drops. Returns the number of messages held.
  std::size_t Submit(InboundMessage message);
  // Messages taken and not yet answered (all stages).
  std::size_t Held() const { return held_.load(std::memory_order_relaxed); }

  static std::size_t ShardOf(std::string_view topic, std::size_t shards);

 private:
  struct WorkItem {
    Work work;
  };
  void WorkerLoop(std::size_t index);
  void WriterLoop(std::size_t index);
  void ProcessBatch(Backend& backend, std::vector<WorkItem>& batch);
  bool WaitBackoff(std::chrono::milliseconds& delay);  // false when the drain deadline passed
  bool Abandoning() const;

  PipelineSettings settings_;
  HandlerSettings handler_settings_;
  Directory& directory_;
  std::vector<Backend*> backends_;
  Publisher& publisher_;
  Metrics& metrics_;
  std::vector<std::unique_ptr<BoundedQueue<InboundMessage>>> shards_;
  std::vector<std::unique_ptr<BoundedQueue<WorkItem>>> writer_queues_;
  std::vector<std::thread> workers_;
  std::vector<std::thread> writers_;
  std::atomic<std::size_t> held_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> drain_deadline_ms_{0};
  std::atomic<int> workers_running_{0};
  bool started_ = false;
};

}  // namespace iot::gateway

#include "pipeline.hpp"

#include <algorithm>
#include <functional>

#include "iot/common/clock.hpp"
#include "iot/common/log.hpp"
#include "reply.hpp"

namespace iot::gateway {
namespace {

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

log::RateLimiter& DbNoise() {
  static log::RateLimiter limiter(std::chrono::seconds(5));
  return limiter;
}

}  // namespace

std::size_t Pipeline::ShardOf(std::string_view topic, std::size_t shards) {
  // "/sys/{pk}/{dn}/...", "/ext/ntp/{pk}/{dn}/...", "/shadow/update/{pk}/{dn}",
  // "/ota/device/inform/{pk}/{dn}", "/as/mqtt/status/{pk}/{dn}": hash "pk/dn".
  std::size_t skip = 1;  // levels before pk
  if (topic.starts_with("/ext/") || topic.starts_with("/shadow/")) {
    skip = 2;
  }
  if (topic.starts_with("/as/mqtt/status/") || topic.starts_with("/ota/device/")) {
    skip = 3;
  }
  std::size_t pos = 1;
  for (std::size_t i = 0; i < skip && pos != std::string_view::npos; ++i) {
    pos = topic.find('/', pos);
    if (pos != std::string_view::npos) {
      ++pos;
    }
  }
  std::string_view key = topic;
  if (pos != std::string_view::npos) {
    std::size_t end = topic.find('/', pos);
    end = end == std::string_view::npos ? topic.size() : topic.find('/', end + 1);
    key = topic.substr(pos, (end == std::string_view::npos ? topic.size() : end) - pos);
  }
  return std::hash<std::string_view>{}(key) % shards;
}

Pipeline::Pipeline(PipelineSettings settings, HandlerSettings handler_settings, Directory& directory,
                   Backend& backend, Publisher& publisher, Metrics& metrics)
    : Pipeline(settings, handler_settings, directory, std::vector<Backend*>{&backend}, publisher, metrics) {}

Pipeline::Pipeline(PipelineSettings settings, HandlerSettings handler_settings, Directory& directory,
                   std::vector<Backend*> backends, Publisher& publisher, Metrics& metrics)
    : settings_(settings),
      handler_settings_(handler_settings),
      directory_(directory),
      backends_(std::move(backends)),
      publisher_(publisher),
      metrics_(metrics) {
  settings_.workers = std::max<int>({1, settings_.workers, static_cast<int>(backends_.size())});
  for (int i = 0; i < settings_.workers; ++i) {
    // Shards are unbounded for the Paho side (ForcePush); the flow controller bounds the total.
    shards_.push_back(std::make_unique<BoundedQueue<InboundMessage>>(SIZE_MAX));
  }
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    writer_queues_.push_back(std::make_unique<BoundedQueue<WorkItem>>(settings_.writer_queue));
  }
}

Pipeline::~Pipeline() { Stop(std::chrono::milliseconds(0)); }

void Pipeline::Start() {
  if (started_) {
    return;
  }
  started_ = true;
  workers_running_ = settings_.workers;
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    writers_.emplace_back([this, i] { WriterLoop(i); });
  }
}

void Pipeline::Stop(std::chrono::milliseconds drain) {
  if (!started_) {
    return;
  }
  started_ = false;
  drain_deadline_ms_ = SteadyMs() + drain.count();
  stopping_ = true;
  for (auto& q : shards_) {
    q->Close();
  }
  for (auto& t : workers_) {
    t.join();
  }
  workers_.clear();
  for (auto& q : writer_queues_) {
    q->Close();
  }
  for (auto& t : writers_) {
    t.join();
  }
  writers_.clear();
  const std::size_t left = Held();
  if (left > 0) {
    IOT_LOG_WARN(
        "gateway",
        "msg=\"stopped with messages unanswered: the broker or the devices resend them\" held=" << left);
  }
}

bool Pipeline::Abandoning() const { return stopping_.load() && SteadyMs() >= drain_deadline_ms_.load(); }

bool Pipeline::WaitBackoff(std::chrono::milliseconds& delay) {
  const auto until = SteadyMs() + delay.count();
  while (SteadyMs() < until) {
    if (Abandoning()) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::int64_t>(20, delay.count())));
  }
  delay = std::min(settings_.retry_max, delay * 2);
  return !Abandoning();
}

std::size_t Pipeline::Submit(InboundMessage message) {
  const std::size_t shard = ShardOf(message.topic, shards_.size());
  const std::size_t held = held_.fetch_add(1, std::memory_order_relaxed) + 1;
  shards_[shard]->ForcePush(std::move(message));
  return held;
}

void Pipeline::WorkerLoop(std::size_t index) {
  Handler handler(directory_, metrics_, handler_settings_);
  BoundedQueue<InboundMessage>& queue = *shards_[index];
  // While traffic flows the worker polls in 1 ms slices instead of waiting on the queue: a waiting
  // worker is woken by every message (a futex wake on Paho's thread and a context switch here, ~0.3
  // per message per worker at 8,000 posts/s); a polling one takes a few messages per wake. After
  // kLinger without a message it waits on the queue again, so an idle gateway does not spin.
  constexpr auto kSlice = std::chrono::milliseconds(1);
  constexpr auto kLinger = std::chrono::milliseconds(50);
  std::vector<InboundMessage> messages;
  auto last_message = std::chrono::steady_clock::now();
  bool stop = false;
  while (!stop) {
    messages.clear();
    if (queue.PopMany(messages, 256) == 0) {
      if (queue.Closed()) {
        break;
      }
      if (std::chrono::steady_clock::now() - last_message < kLinger) {
        std::this_thread::sleep_for(kSlice);
        continue;
      }
      std::optional<InboundMessage> message = queue.Pop(std::chrono::milliseconds(200));
      if (!message) {
        continue;
      }
      messages.push_back(std::move(*message));
    }
    last_message = std::chrono::steady_clock::now();
    for (InboundMessage& message : messages) {
      WorkItem item;
      HandleStatus status;
      auto delay = settings_.retry_min;
      while ((status = handler.Handle(message, NowMs(), item.work)) == HandleStatus::kRetry) {
        metrics_.db_retries.fetch_add(1, std::memory_order_relaxed);
        IOT_LOG_LIMITED(DbNoise(), log::Level::kWarn, "gateway",
                        "msg=\"directory unavailable, retrying\" topic=" << log::Quote(message.topic));
        if (!WaitBackoff(delay)) {
          break;
        }
      }
      if (status == HandleStatus::kRetry) {  // abandoned at shutdown
        stop = true;
        break;
      }
      if (status == HandleStatus::kIgnore) {
        held_.fetch_sub(1, std::memory_order_relaxed);
        continue;
      }
      if (!writer_queues_[index % writer_queues_.size()]->Push(std::move(item))) {
        stop = true;
        break;
      }
    }
  }
  --workers_running_;
}

void Pipeline::WriterLoop(std::size_t index) {
  BoundedQueue<WorkItem>& queue = *writer_queues_[index];
  Backend& backend = *backends_[index];
  std::vector<WorkItem> batch;
  batch.reserve(settings_.batch_max);
  // The batch window follows the load: the previous batch's processing time (its commit, fsync
  // included), at most batch_delay. A lightly loaded writer commits within a few ms (low latency);
  // a busy one, whose commits take longer, collects bigger batches, which cost PostgreSQL less per
  // message.
  auto window = std::chrono::steady_clock::duration(std::chrono::milliseconds(1));
  while (true) {
    batch.clear();
    std::optional<WorkItem> first = queue.Pop(std::chrono::milliseconds(200));
    if (!first) {
      if (queue.Closed() && queue.Size() == 0) {
        break;
      }
      continue;
    }
    batch.push_back(std::move(*first));
    const auto deadline = std::chrono::steady_clock::now() + window;
    // Fill the batch by polling in slices of at most 1 ms rather than waiting on the queue: a wait
    // is woken by every push, i.e. a context switch per message (task switching was ~16% of the
    // gateway's perf samples at 6,000 posts/s, bench/e2e.sh); slices cost a few per batch (each
    // writer went from ~0.5 to ~0.05 switches per message).
    while (batch.size() < settings_.batch_max) {
      queue.PopMany(batch, settings_.batch_max - batch.size());
      if (batch.size() >= settings_.batch_max || queue.Closed()) {
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        break;
      }
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(1)));
    }
    const auto started = std::chrono::steady_clock::now();
    ProcessBatch(backend, batch);
    window = std::clamp<std::chrono::steady_clock::duration>(
        std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1), settings_.batch_delay);
    if (Abandoning()) {
      // Drain deadline passed while the database is away: what is left stays unanswered.
      std::vector<WorkItem> rest;
      queue.PopMany(rest, SIZE_MAX);
      if (queue.Closed()) {
        break;
      }
    }
  }
}

void Pipeline::ProcessBatch(Backend& backend, std::vector<WorkItem>& batch) {
  // 1. One transaction for every message's telemetry (history, events, rejections, dedupe keys).
  std::vector<store::TelemetryMessage> messages;
  std::vector<std::size_t> owner;  // messages[i] belongs to batch[owner[i]]
  messages.reserve(batch.size());
  TimeMs oldest = 0;  // arrival of the batch's oldest message, for the ingest lag
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].work.telemetry) {
      const TimeMs arrived = batch[i].work.telemetry->received_at;
      if (arrived > 0 && (oldest == 0 || arrived < oldest)) {
        oldest = arrived;
      }
      messages.push_back(std::move(*batch[i].work.telemetry));
      owner.push_back(i);
      // A pack post's sub-device parts: in the same transaction, answered with the message.
      for (auto& part : batch[i].work.parts) {
        messages.push_back(std::move(part));
        owner.push_back(i);
      }
      batch[i].work.parts.clear();
    }
  }
  std::vector<store::MessageResult> results;
  if (!messages.empty()) {
    auto delay = settings_.retry_min;
    while (true) {
      const auto started = std::chrono::steady_clock::now();
      auto written = backend.WriteTelemetry(messages);
      if (written) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        metrics_.commit_seconds.Observe(seconds);
        if (oldest > 0) {
          metrics_.ingest_lag_seconds.Observe(static_cast<double>(NowMs() - oldest) / 1000.0);
        }
        results = std::move(*written);
        break;
      }
      metrics_.db_retries.fetch_add(1, std::memory_order_relaxed);
      IOT_LOG_LIMITED(DbNoise(), log::Level::kWarn, "gateway",
                      "msg=\"batch not stored, retrying\" messages="
                          << messages.size() << " error=" << log::Quote(written.error().message()));
      if (!WaitBackoff(delay)) {
        return;  // shutdown with the database away: leave unanswered
      }
    }
  }
  metrics_.batches.fetch_add(1, std::memory_order_relaxed);
  metrics_.committed_messages.fetch_add(batch.size(), std::memory_order_relaxed);
  metrics_.batch_size.Observe(static_cast<double>(batch.size()));
  for (std::size_t k = 0; k < results.size() && k < owner.size(); ++k) {
    Work& work = batch[owner[k]].work;
    if (results[k].outcome == store::WriteOutcome::kDuplicate) {
      // Stored once before; answered again the same way (validation is deterministic). Side
      // effects are idempotent (tag merge, versioned desired delete, reads), so they run again.
      metrics_.duplicates.fetch_add(1, std::memory_order_relaxed);
    } else if (results[k].outcome == store::WriteOutcome::kFailed) {
      metrics_.db_failed_messages.fetch_add(1, std::memory_order_relaxed);
      IOT_LOG_LIMITED(DbNoise(), log::Level::kError, "gateway",
                      "msg=\"message refused by the store\" kind=" << work.kind << " error="
                                                                   << log::Quote(results[k].error.message()));
      if (work.reply) {
        replies::StorageFailed(*work.reply);
      }
      work.op = std::monostate{};
    }
  }
  // 2. Side effects: the batch's lifecycle events together (each device's sequence number, not the
  //    order, decides its state), then the others in arrival order.
  std::vector<store::LifecycleEvent> lifecycles;
  for (WorkItem& item : batch) {
    if (auto* life = std::get_if<LifecycleOp>(&item.work.op)) {
      lifecycles.push_back(std::move(life->event));
      item.work.op = std::monostate{};
    }
  }
  if (!lifecycles.empty()) {
    auto delay = settings_.retry_min;
    while (true) {
      const OpStatus status = backend.ApplyLifecycles(lifecycles);
      if (status != OpStatus::kUnavailable) {
        break;  // kFailed: logged by the backend, nothing to answer
      }
      metrics_.db_retries.fetch_add(1, std::memory_order_relaxed);
      if (!WaitBackoff(delay)) {
        return;
      }
    }
  }
  for (WorkItem& item : batch) {
    Work& work = item.work;
    if (std::holds_alternative<std::monostate>(work.op)) {
      continue;
    }
    auto delay = settings_.retry_min;
    while (true) {
      OpResult result;
      const OpStatus status = backend.Execute(work.op, result);
      if (status == OpStatus::kDone) {
        const auto* get = std::get_if<DesiredGetOp>(&work.op);
        if (get && work.reply) {
          replies::AddDesiredValues(*work.reply, get->identifiers, result.desired);
        }
        const auto* shadow = std::get_if<ShadowOp>(&work.op);
        if (shadow && work.reply) {
          replies::SetShadowAnswer(*work.reply, *shadow, result);
        }
        const auto* ota = std::get_if<OtaFirmwareGetOp>(&work.op);
        if (ota && work.reply) {
          replies::SetOtaPackage(*work.reply, *ota, result);
        }
        const auto* topology = std::get_if<TopologyOp>(&work.op);
        if (topology && work.reply) {
          replies::SetTopologyAnswer(*work.reply, *topology, result);
        }
        break;
      }
      if (status == OpStatus::kFailed) {
        if (work.reply) {
          replies::StorageFailed(*work.reply);
        }
        break;
      }
      metrics_.db_retries.fetch_add(1, std::memory_order_relaxed);
      if (!WaitBackoff(delay)) {
        return;
      }
    }
  }
  // 3. Replies, only now that everything above is committed.
  for (WorkItem& item : batch) {
    if (item.work.reply) {
      const Reply& r = item.work.reply.value();
      if (!publisher_.Publish(r.topic, replies::Payload(r))) {
        metrics_.publish_errors.fetch_add(1, std::memory_order_relaxed);
      }
    }
    held_.fetch_sub(1, std::memory_order_relaxed);
  }
}

}  // namespace iot::gateway

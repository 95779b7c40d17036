#include "jobs/dry_run.hpp"

#include <algorithm>

#include "iot/common/codes.hpp"
#include "iot/common/log.hpp"
#include "iot/store/device_data.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/dry_runs.hpp"

namespace iot::api {
namespace {

using nlohmann::json;

constexpr std::string_view kLog = "api.dry_run";
constexpr std::string_view kPropertyPost = "thing.event.property.post";

// Refusals of a data check: the stored value is what the device sent, so the model decides again.
bool Revalidatable(int code) {
  switch (code) {
    case codes::kParamNotExist:
    case codes::kBadInt:
    case codes::kBadFloat:
    case codes::kBadBool:
    case codes::kBadEnum:
    case codes::kBadText:
    case codes::kBadDate:
    case codes::kBadStruct:
    case codes::kBadDouble:
    case codes::kBadArray:
    case codes::kNotArray: return true;
    default: return false;
  }
}

// "thing.event.{id}.post" -> id ("" for the property post and anything else).
std::string EventOfMethod(std::string_view method) {
  constexpr std::string_view kPrefix = "thing.event.";
  constexpr std::string_view kSuffix = ".post";
  if (method.size() <= kPrefix.size() + kSuffix.size() || method.substr(0, kPrefix.size()) != kPrefix ||
      method.substr(method.size() - kSuffix.size()) != kSuffix) {
    return {};
  }
  std::string_view id = method.substr(kPrefix.size(), method.size() - kPrefix.size() - kSuffix.size());
  if (id == "property" || id.find('.') != std::string_view::npos) {
    return {};
  }
  return std::string(id);
}

json Wrapped(const json& value, std::int64_t time_ms) { return json{{"value", value}, {"time", time_ms}}; }

}  // namespace

DryRunTally::DryRunTally(const tsl::ThingModel* model, tsl::Mode mode, DryRunLimits limits)
    : validator_(model, mode), mode_(mode), limits_(limits) {}

void DryRunTally::Flip(bool to_refused, const std::string& device, const std::string& identifier,
                       const json& value, std::int64_t time_ms, int code, const std::string& message) {
  IdentifierCounts& id = identifiers_[identifier];
  DeviceCounts& dev = devices_[device];
  std::size_t& shown = to_refused ? id.a2r_examples : id.r2a_examples;
  if (to_refused) {
    ++id.accepted_to_refused;
    ++dev.accepted_to_refused;
  } else {
    ++id.refused_to_accepted;
    ++dev.refused_to_accepted;
  }
  if (shown < limits_.examples) {
    ++shown;
    id.examples.push_back({{"deviceName", device},
                           {"value", value},
                           {"time", time_ms},
                           {"code", code},
                           {"message", message},
                           {"transition", to_refused ? "acceptedToRefused" : "refusedToAccepted"}});
  }
}

void DryRunTally::Accepted(bool event, const std::string& device, const std::string& identifier,
                           const std::string& value_json, std::int64_t time_ms) {
  json value = json::parse(value_json, nullptr, false);
  if (value.is_discarded()) {
    ++skipped_;
    return;
  }
  ++accepted_;
  if (event) {
    validator_.EventPost(identifier, Wrapped(value, time_ms), time_ms, report_);
  } else {
    json params = json::object();
    params[identifier] = Wrapped(value, time_ms);
    validator_.PropertyPost(params, time_ms, report_);
  }
  // The first problem decides, as in the gateway's reply.
  if (!report_.request_ok()) {
    Flip(true, device, identifier, value, time_ms, report_.code, report_.message);
  } else if (!report_.refused.empty()) {
    Flip(true, device, identifier, value, time_ms, report_.refused.front().code,
         report_.refused.front().message);
  }
}

void DryRunTally::Rejection(const std::string& device, const std::string& method,
                            const std::string& identifier, const std::string& value_text, int code,
                            const std::string& message, std::int64_t time_ms) {
  if (identifier.empty() || !Revalidatable(code)) {
    ++skipped_;
    return;
  }
  json value = json::parse(value_text, nullptr, false);  // a truncated value does not parse
  if (value.is_discarded()) {
    ++skipped_;
    return;
  }
  if (method == kPropertyPost) {
    json params = json::object();
    params[identifier] = Wrapped(value, time_ms);
    validator_.PropertyPost(params, time_ms, report_);
  } else if (std::string event = EventOfMethod(method);
             !event.empty() && event == identifier && value.is_object()) {
    validator_.EventPost(identifier, Wrapped(value, time_ms), time_ms, report_);
  } else {
    ++skipped_;
    return;
  }
  ++refused_;
  if (report_.all_accepted()) {
    Flip(false, device, identifier, value, time_ms, code, message);
  }
}

json DryRunTally::ToJson(bool truncated) const {
  struct Row {
    const std::string* name;
    std::uint64_t a2r;
    std::uint64_t r2a;
  };
  auto by_impact = [](const Row& a, const Row& b) {
    if (a.a2r != b.a2r) {
      return a.a2r > b.a2r;
    }
    if (a.r2a != b.r2a) {
      return a.r2a > b.r2a;
    }
    return *a.name < *b.name;
  };
  std::uint64_t total_a2r = 0;
  std::uint64_t total_r2a = 0;
  std::vector<Row> ids;
  for (const auto& [name, c] : identifiers_) {
    ids.push_back({&name, c.accepted_to_refused, c.refused_to_accepted});
    total_a2r += c.accepted_to_refused;
    total_r2a += c.refused_to_accepted;
  }
  std::sort(ids.begin(), ids.end(), by_impact);
  json identifiers = json::array();
  for (const Row& row : ids) {
    identifiers.push_back({{"identifier", *row.name},
                           {"acceptedToRefused", row.a2r},
                           {"refusedToAccepted", row.r2a},
                           {"examples", identifiers_.at(*row.name).examples}});
  }
  std::vector<Row> devs;
  for (const auto& [name, c] : devices_) {
    devs.push_back({&name, c.accepted_to_refused, c.refused_to_accepted});
  }
  std::sort(devs.begin(), devs.end(), by_impact);
  json devices = json::array();
  for (std::size_t i = 0; i < devs.size() && i < limits_.devices; ++i) {
    devices.push_back({{"deviceName", *devs[i].name},
                       {"acceptedToRefused", devs[i].a2r},
                       {"refusedToAccepted", devs[i].r2a}});
  }
  return {{"mode", tsl::ModeName(mode_)},
          {"acceptedToRefused", total_a2r},
          {"refusedToAccepted", total_r2a},
          {"identifiers", std::move(identifiers)},
          {"devices", std::move(devices)},
          {"devicesTruncated", devs.size() > limits_.devices},
          {"examined", {{"accepted", accepted_}, {"refused", refused_}, {"skipped", skipped_}}},
          {"truncated", truncated}};
}

// ---------------------------------------------------------------------------------------------------

DryRunner::DryRunner(DryRunSettings settings)
    : settings_(std::move(settings)), write_db_(settings_.write_db), read_db_(settings_.read_db) {}

DryRunner::~DryRunner() { Stop(); }

void DryRunner::Start() {
  std::lock_guard lock(mutex_);
  if (started_) {
    return;
  }
  started_ = true;
  thread_ = std::thread([this] {
    if (auto failed = store::FailRunningDryRuns(write_db_, "interrupted: iot-api restarted"); !failed) {
      IOT_LOG_WARN(kLog, "msg=\"cannot mark interrupted dry runs\" error="
                             << iot::log::Quote(failed.error().message()));
    }
    Loop();
  });
}

void DryRunner::Stop() {
  std::deque<DryRunJob> left;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  for (const auto& job : left) {
    (void)store::FinishDryRun(write_db_, job.id, store::DryRunState::kFailed, std::nullopt,
                              "iot-api stopped before the run started");
  }
}

bool DryRunner::Submit(DryRunJob job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= settings_.queue_capacity) {
      return false;
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return true;
}

void DryRunner::Loop() {
  for (;;) {
    DryRunJob job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    Execute(job);
  }
}

namespace {

// Thrown inside Execute to end a run as failed.
struct RunFailed {
  std::string reason;
};

template <class T>
T Must(Result<T>&& result, std::string_view what) {
  if (!result) {
    throw RunFailed{std::string(what) + ": " + result.error().message()};
  }
  return std::move(*result);
}

void Must(Result<void>&& result, std::string_view what) {
  if (!result) {
    throw RunFailed{std::string(what) + ": " + result.error().message()};
  }
}

}  // namespace

bool DryRunner::Pace(std::size_t rows) {
  if (settings_.rows_per_second <= 0 || rows == 0) {
    std::lock_guard lock(mutex_);
    return !stopping_;
  }
  const auto delay =
      std::chrono::microseconds(rows * 1'000'000ULL / static_cast<unsigned>(settings_.rows_per_second));
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, delay, [&] { return stopping_; });
}

void DryRunner::Execute(const DryRunJob& job) {
  const auto started = std::chrono::steady_clock::now();
  DryRunTally tally(job.model.get(), job.mode, settings_.limits);
  bool truncated = false;
  try {
    // The product's devices, by id.
    std::vector<std::pair<std::int64_t, std::string>> devices;
    store::DeviceFilter filter;
    filter.page.limit = 1000;
    for (;;) {
      auto page = Must(store::ListDevices(read_db_, job.product_key, filter), "listing devices");
      for (const auto& d : page.items) {
        devices.emplace_back(d.id, d.device_name);
      }
      if (!page.next_cursor) {
        break;
      }
      filter.page.cursor = *page.next_cursor;
    }
    store::TimeQuery base;
    base.from = job.from;
    base.to = job.to;
    base.order = store::Order::kAsc;
    base.limit = settings_.page_rows;
    auto last_progress = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < devices.size() && !truncated; ++i) {
      const auto& [device_id, name] = devices[i];
      // Every identifier the device ever had accepted has a latest value.
      // Pages of one list (keyset order), paced, until its end or the row bound.
      auto pages = [&](std::string_view what, auto fetch, auto each) {
        store::TimeQuery q = base;
        do {
          auto page = Must(fetch(q), what);
          for (const auto& item : page.items) {
            each(item);
          }
          if (!Pace(page.items.size())) {
            throw RunFailed{"iot-api stopped"};
          }
          q.cursor = page.next_cursor.value_or("");
        } while (!q.cursor.empty() && tally.examined() < settings_.max_rows);
      };
      auto latest = Must(store::GetLatestProperties(read_db_, device_id), "reading latest values");
      for (const auto& property : latest) {
        const std::string& id = property.identifier;
        pages(
            "reading history",
            [&](const store::TimeQuery& q) { return store::ListPropertyHistory(read_db_, device_id, id, q); },
            [&](const store::PropertySample& s) { tally.AcceptedProperty(name, id, s.value_json, s.time); });
      }
      pages(
          "reading events",
          [&](const store::TimeQuery& q) { return store::ListEvents(read_db_, device_id, {}, q); },
          [&](const store::EventRecord& e) {
            tally.AcceptedEvent(name, e.identifier, e.output_json, e.time);
          });
      pages(
          "reading rejections",
          [&](const store::TimeQuery& q) { return store::ListRejections(read_db_, device_id, q); },
          [&](const store::Rejection& r) {
            tally.Rejection(name, r.method, r.identifier, r.value, r.code, r.message, r.time);
          });
      truncated = tally.examined() >= settings_.max_rows;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_progress >= std::chrono::milliseconds(500)) {
        last_progress = now;
        (void)store::SetDryRunProgress(write_db_, job.id,
                                       static_cast<double>(i + 1) / static_cast<double>(devices.size()));
      }
    }
    Must(
        store::FinishDryRun(write_db_, job.id, store::DryRunState::kDone, tally.ToJson(truncated).dump(), ""),
        "storing the result");
    IOT_LOG_INFO(kLog, "msg=\"dry run done\" id=" << job.id << " product=" << job.product_key
                                                  << " rows=" << tally.examined() << " ms="
                                                  << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                         std::chrono::steady_clock::now() - started)
                                                         .count());
  } catch (const RunFailed& failed) {
    IOT_LOG_WARN(kLog, "msg=\"dry run failed\" id=" << job.id << " why=" << iot::log::Quote(failed.reason));
    (void)store::FinishDryRun(write_db_, job.id, store::DryRunState::kFailed, std::nullopt, failed.reason);
  } catch (const std::exception& e) {
    IOT_LOG_ERROR(kLog, "msg=\"dry run failed\" id=" << job.id << " what=" << iot::log::Quote(e.what()));
    (void)store::FinishDryRun(write_db_, job.id, store::DryRunState::kFailed, std::nullopt, "internal error");
  }
}

}  // namespace iot::api

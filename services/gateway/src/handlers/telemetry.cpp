#include <string>
#include <string_view>
#include <utility>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/common/codes.hpp"

// Telemetry: property, event, history and batch posts. Validated against the product's published model;
// what is accepted is stored, what is refused is stored as rejections and named in the reply.
namespace iot::gateway::handler_detail {
namespace {

// Adds one validated event (accepted or refused) to the message; returns the refusal if any.
void AddEvent(Context& c, const ProductEntry& p, std::string_view event_id, const json& params, json& data) {
  tsl::Report report = MakeValidator(p).EventPost(event_id, params, c.now());
  if (!report.request_ok()) {
    tsl::Refusal r{std::string(event_id), report.code, report.message};
    json wrapper = json::object({{std::string(event_id), params}});
    c.Refuse(r, &wrapper, data);
    return;
  }
  c.AddEvents(report, p.model.get());
  json wrapper = json::object({{std::string(event_id), params}});
  for (const auto& r : report.refused) {
    tsl::Refusal named = r;
    named.identifier = std::string(event_id);  // refused whole; the message names the member
    c.Refuse(named, &wrapper, data);
  }
}

}  // namespace

void HandlePropertyPost(Context& c, const ProductEntry& p, const json& params) {
  tsl::Report report = MakeValidator(p).PropertyPost(params, c.now());
  if (!report.request_ok()) {
    return c.Fail(report.code, report.message);
  }
  c.AddProperties(report);
  json data = json::object();
  for (const auto& r : report.refused) {
    c.Refuse(r, &params, data);
  }
  c.Answer(codes::kSuccess, std::move(data));
}

void HandleEventPost(Context& c, const ProductEntry& p, const json& params) {
  const std::string& event_id = c.topic().identifier;
  tsl::Report report = MakeValidator(p).EventPost(event_id, params, c.now());
  if (!report.request_ok()) {
    return c.Fail(report.code, report.message);
  }
  c.Telemetry();  // the dedupe key is written even when nothing else is
  if (report.refused.empty()) {
    c.AddEvents(report, p.model.get());
    return c.Answer(codes::kSuccess);
  }
  // A refused event is answered with its own code, naming the failing member.
  json data = json::object();
  json wrapper = json::object({{event_id, params}});
  const tsl::Refusal& first = report.refused.front();
  for (const auto& r : report.refused) {
    tsl::Refusal named = r;
    named.identifier = event_id;
    c.Refuse(named, &wrapper, data);
  }
  c.Answer(first.code, std::move(data), first.message);
}

// thing.event.property.history.post: [{"identity":{productKey,deviceName},"properties":[{..}],
// "events":[{"evt":{"value":{..},"time":..}}]}]. A direct device may report only itself.
void HandleHistoryPost(Context& c, const ProductEntry& p, const json& params, std::size_t max_samples) {
  if (!params.is_array()) {
    return c.Fail(codes::kParamError, "params must be an array");
  }
  std::size_t samples = 0;
  for (const json& entry : params) {
    if (!entry.is_object()) {
      return c.Fail(codes::kParamError, "history entries must be objects");
    }
    for (const char* key : {"properties", "events"}) {
      if (auto it = entry.find(key); it != entry.end()) {
        if (!it->is_array()) {
          return c.Fail(codes::kParamError, std::string(key) + " must be an array");
        }
        for (const json& m : *it) {
          samples += m.is_object() ? m.size() : 1;
        }
      }
    }
  }
  if (samples > max_samples) {
    return c.Fail(codes::kTooManyProperties,
                  "more than " + std::to_string(max_samples) + " samples in one message");
  }
  json data = json::object();
  c.Telemetry();
  for (const json& entry : params) {
    if (auto id = entry.find("identity"); id != entry.end()) {
      const json* pk = id->is_object() && id->contains("productKey") ? &(*id)["productKey"] : nullptr;
      const json* dn = id->is_object() && id->contains("deviceName") ? &(*id)["deviceName"] : nullptr;
      if (!pk || !dn || !pk->is_string() || !dn->is_string() ||
          pk->get_ref<const std::string&>() != c.topic().product_key ||
          dn->get_ref<const std::string&>() != c.topic().device_name) {
        tsl::Refusal r{"identity", codes::kDeviceNotFound,
                       "identity: a device may report history only for itself"};
        c.Refuse(r, &entry, data);
        continue;
      }
    }
    if (auto props = entry.find("properties"); props != entry.end()) {
      for (const json& map : *props) {
        tsl::Report report = MakeValidator(p).PropertyPost(map, c.now());
        if (!report.request_ok()) {
          tsl::Refusal r{"properties", report.code, report.message};
          c.Refuse(r, nullptr, data);
          continue;
        }
        c.AddProperties(report);
        for (const auto& r : report.refused) {
          c.Refuse(r, &map, data);
        }
      }
    }
    if (auto events = entry.find("events"); events != entry.end()) {
      for (const json& map : *events) {
        if (!map.is_object()) {
          c.Refuse(tsl::Refusal{"events", codes::kParamError, "events: items must be objects"}, nullptr,
                   data);
          continue;
        }
        for (auto it = map.begin(); it != map.end(); ++it) {
          AddEvent(c, p, it.key(), it.value(), data);
        }
      }
    }
  }
  c.Answer(codes::kSuccess, std::move(data));
}

// thing.event.property.batch.post: {"properties":{"id":[{value,time},..]},"events":{"id":[..]}}.
void HandleBatchPost(Context& c, const ProductEntry& p, const json& params, std::size_t max_samples) {
  if (!params.is_object()) {
    return c.Fail(codes::kParamError, "params must be an object");
  }
  std::size_t samples = 0;
  for (const char* key : {"properties", "events"}) {
    if (auto it = params.find(key); it != params.end()) {
      if (!it->is_object()) {
        return c.Fail(codes::kParamError, std::string(key) + " must be an object");
      }
      if (it->size() > tsl::kMaxItemsPerPost) {
        return c.Fail(codes::kTooManyProperties, std::string(key) + ": more than 200 identifiers");
      }
      for (auto s = it->begin(); s != it->end(); ++s) {
        samples += s->is_array() ? s->size() : 1;
      }
    }
  }
  if (samples > max_samples) {
    return c.Fail(codes::kTooManyProperties,
                  "more than " + std::to_string(max_samples) + " samples in one message");
  }
  json data = json::object();
  c.Telemetry();
  const tsl::Validator validator = MakeValidator(p);
  if (auto props = params.find("properties"); props != params.end()) {
    json one = json::object();
    for (auto it = props->begin(); it != props->end(); ++it) {
      if (!it->is_array()) {
        c.Refuse(tsl::Refusal{it.key(), codes::kNotArray, it.key() + ": samples must be an array"}, &*props,
                 data);
        continue;
      }
      for (const json& sample : *it) {
        one.clear();
        one[it.key()] = sample;
        tsl::Report report = validator.PropertyPost(one, c.now());
        if (!report.request_ok()) {
          c.Refuse(tsl::Refusal{it.key(), report.code, report.message}, &one, data);
          continue;
        }
        c.AddProperties(report);
        for (const auto& r : report.refused) {
          c.Refuse(r, &one, data);
        }
      }
    }
  }
  if (auto events = params.find("events"); events != params.end()) {
    for (auto it = events->begin(); it != events->end(); ++it) {
      if (!it->is_array()) {
        c.Refuse(tsl::Refusal{it.key(), codes::kNotArray, it.key() + ": samples must be an array"}, &*events,
                 data);
        continue;
      }
      for (const json& sample : *it) {
        AddEvent(c, p, it.key(), sample, data);
      }
    }
  }
  c.Answer(codes::kSuccess, std::move(data));
}

}  // namespace iot::gateway::handler_detail

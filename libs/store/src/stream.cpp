#include "iot/store/stream.hpp"

#include <algorithm>
#include <charconv>

#include "connection.hpp"
#include "iot/common/json_text.hpp"
#include "iot/store/telemetry_writer.hpp"

namespace iot::store {
namespace {

const Statement kDeviceKeys{"stream_device_keys",
                            "SELECT product_key, device_name FROM devices WHERE id = $1"};

// Device JSON arrives as valid JSON text; a raw line break can only be insignificant whitespace there
// (inside strings JSON requires escapes), so it is blanked to keep records one per line.
void AppendJsonValue(std::string& out, std::string_view json) {
  const auto start = out.size();
  out.append(json.empty() ? std::string_view("null") : json);
  std::replace_if(
      out.begin() + static_cast<std::ptrdiff_t>(start), out.end(),
      [](char c) { return c == '\n' || c == '\r'; }, ' ');
}

// `"id":value` (the value left out as null when `truncated`).
std::string PropertyEntry(const PropertyItem& p, bool truncated) {
  std::string out;
  AppendJsonString(out, p.identifier);
  out.push_back(':');
  if (truncated) {
    out += "null";
  } else {
    AppendJsonValue(out, p.value_json);
  }
  return out;
}

}  // namespace

void StreamPayloadBuilder::AddRecord(char kind, std::int64_t device_id, TimeMs time, std::string_view data) {
  std::string head;
  head.push_back(kind);
  head.push_back(' ');
  head += std::to_string(device_id);
  head.push_back(' ');
  head += std::to_string(time);
  head.push_back(' ');
  const std::size_t size = head.size() + data.size();
  if (!current_.empty() && current_.size() + 1 + size > limit_) {
    payloads_.push_back(std::move(current_));
    current_.clear();
  }
  if (!current_.empty()) {
    current_.push_back('\n');
  }
  current_ += head;
  current_.append(data);
}

void StreamPayloadBuilder::AddProperties(std::int64_t device_id, const std::vector<PropertyItem>& items) {
  constexpr std::size_t kHead = 48;  // kind, id and time with their separators, generously
  // One record per distinct device time (a post nearly always has one), values only: this is the
  // bulk of the stream's bytes, and PostgreSQL's notification queue costs per byte.
  std::vector<bool> done(items.size(), false);
  for (std::size_t first = 0; first < items.size(); ++first) {
    if (done[first]) {
      continue;
    }
    const TimeMs time = items[first].time;
    std::vector<const PropertyItem*> group;
    for (std::size_t i = first; i < items.size(); ++i) {
      if (!done[i] && items[i].time == time) {
        done[i] = true;
        group.push_back(&items[i]);
      }
    }
    std::string data = "{";
    for (const auto* p : group) {
      if (data.size() > 1) {
        data.push_back(',');
      }
      data += PropertyEntry(*p, false);
    }
    data.push_back('}');
    if (data.size() + kHead <= limit_) {
      AddRecord('p', device_id, time, data);
      continue;
    }
    // Too large for one notification: one record per property, its value left out if still too large.
    for (const auto* p : group) {
      std::string one = "{" + PropertyEntry(*p, false) + "}";
      if (one.size() + kHead > limit_) {
        one = "{" + PropertyEntry(*p, true) + ",\"$truncated\":true}";
      }
      AddRecord('p', device_id, time, one);
    }
  }
}

void StreamPayloadBuilder::AddEvent(std::int64_t device_id, const EventItem& event) {
  constexpr std::size_t kHead = 48;
  std::string data = "{\"identifier\":";
  AppendJsonString(data, event.identifier);
  data += ",\"type\":";
  AppendJsonString(data, event.type);
  const auto fixed = data.size();
  data += ",\"output\":";
  AppendJsonValue(data, event.output_json.empty() ? std::string_view("{}") : event.output_json);
  data.push_back('}');
  if (data.size() + kHead > limit_) {
    data.resize(fixed);
    data += ",\"output\":null,\"truncated\":true}";
  }
  AddRecord('e', device_id, event.time, data);
}

void StreamPayloadBuilder::AddRejection(std::int64_t device_id, const RejectionItem& rejection) {
  constexpr std::size_t kHead = 48;
  auto build = [&](bool truncated) {
    std::string data = "{\"method\":";
    AppendJsonString(data, rejection.method);
    data += ",\"identifier\":";
    AppendJsonString(data, truncated ? std::string_view(rejection.identifier).substr(0, 128)
                                     : std::string_view(rejection.identifier));
    data += ",\"value\":";
    AppendJsonString(data, truncated ? std::string_view() : std::string_view(rejection.value));
    data += ",\"code\":" + std::to_string(rejection.code) + ",\"message\":";
    AppendJsonString(data, truncated ? std::string_view(rejection.message).substr(0, 512)
                                     : std::string_view(rejection.message));
    if (truncated) {
      data += ",\"truncated\":true";
    }
    data.push_back('}');
    return data;
  };
  std::string data = build(false);
  if (data.size() + kHead > limit_) {
    data = build(true);
  }
  AddRecord('r', device_id, rejection.time, data);
}

std::vector<std::string> StreamPayloadBuilder::Take() {
  if (!current_.empty()) {
    payloads_.push_back(std::move(current_));
    current_.clear();
  }
  return std::move(payloads_);
}

std::vector<StreamRecord> ParseStreamPayload(std::string_view payload, std::size_t* malformed) {
  std::vector<StreamRecord> out;
  std::size_t bad = 0;
  while (!payload.empty()) {
    const auto eol = payload.find('\n');
    std::string_view line = payload.substr(0, eol);
    payload = eol == std::string_view::npos ? std::string_view() : payload.substr(eol + 1);

    StreamRecord r;
    bool ok = line.size() > 2 && line[1] == ' ';
    if (ok) {
      switch (line[0]) {
        case 'p': r.kind = StreamKind::kProperty; break;
        case 'e': r.kind = StreamKind::kEvent; break;
        case 'r': r.kind = StreamKind::kRejection; break;
        case 's': r.kind = StreamKind::kServiceCall; break;
        case 'a': r.kind = StreamKind::kAlarm; break;
        default: ok = false;
      }
    }
    if (ok) {
      const char* p = line.data() + 2;
      const char* end = line.data() + line.size();
      auto id = std::from_chars(p, end, r.device_id);
      ok = id.ec == std::errc() && id.ptr < end && *id.ptr == ' ';
      if (ok) {
        auto t = std::from_chars(id.ptr + 1, end, r.time);
        ok = t.ec == std::errc() && t.ptr < end && *t.ptr == ' ' && t.ptr + 1 < end && t.ptr[1] == '{' &&
             end[-1] == '}';
        if (ok) {
          r.data = std::string_view(t.ptr + 1, static_cast<std::size_t>(end - (t.ptr + 1)));
        }
      }
    }
    if (ok) {
      out.push_back(r);
    } else {
      ++bad;
    }
  }
  if (malformed != nullptr) {
    *malformed = bad;
  }
  return out;
}

Result<DeviceKeys> GetDeviceKeys(Db& db, std::int64_t device_id) {
  return Run(db, [&](pqxx::connection& c) -> Result<DeviceKeys> {
    pqxx::nontransaction tx(c);
    auto rows = Exec(tx, kDeviceKeys, device_id);
    if (rows.empty()) {
      return make_error_code(Errc::kNotFound);
    }
    return DeviceKeys{rows[0][0].as<std::string>(), rows[0][1].as<std::string>()};
  });
}

}  // namespace iot::store

#include "iot/alink/shadow.hpp"

#include <algorithm>
#include <utility>

#include "iot/alink/error.hpp"
#include "iot/common/json.hpp"
#include "iot/common/safe_text.hpp"
#include "json_parse.hpp"

namespace iot::alink::shadow {
namespace {

using json = nlohmann::json;

constexpr std::string_view kNull = "null";

// message > state > reported: the two levels above the attribute tree.
constexpr std::size_t kMessageDepth = kMaxDepth + 2;

bool IsNullText(const json& v) { return v.is_string() && v.get_ref<const std::string&>() == kNull; }

Error Fail(int code, std::string message) { return Error{code, std::move(message)}; }

// A section of `state`: an object or "null"; anything else is refused.
std::optional<Error> TakeSection(const json& state, const char* name, std::optional<json>& out) {
  auto it = state.find(name);
  if (it == state.end()) {
    return std::nullopt;
  }
  if (!it->is_object() && !IsNullText(*it)) {
    return Fail(kBadJson, std::string("state.") + name + " must be an object or \"null\"");
  }
  out = *it;
  return std::nullopt;
}

// The value without its "null" members (at every level): what is stored when nothing was there.
json Stripped(const json& value) {
  if (!value.is_object()) {
    return value;
  }
  json out = json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!IsNullText(it.value())) {
      out[it.key()] = Stripped(it.value());
    }
  }
  return out;
}

// Merges `patch` into `target`: "null" removes, objects merge, anything else replaces.
void Merge(json& target, const json& patch) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (IsNullText(it.value())) {
      target.erase(it.key());
      continue;
    }
    auto existing = target.find(it.key());
    if (it.value().is_object() && existing != target.end() && existing->is_object()) {
      Merge(*existing, it.value());
    } else {
      target[it.key()] = Stripped(it.value());
    }
  }
}

// Applies one section (reported or desired) with its metadata.
std::optional<Error> ApplySection(json& section, json& meta, const json& patch, const char* name,
                                  std::int64_t now_s) {
  if (IsNullText(patch)) {
    section = json::object();
    meta = json::object();
    return std::nullopt;
  }
  if (Depth(patch) > kMaxDepth) {
    return Fail(kBadJson,
                std::string(name) + " is nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  Merge(section, patch);
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (section.contains(it.key())) {
      meta[it.key()] = json{{"timestamp", now_s}};
    } else {
      meta.erase(it.key());
    }
  }
  if (section.size() > kMaxAttributes) {
    return Fail(kTooManyAttributes,
                "more than " + std::to_string(kMaxAttributes) + " " + std::string(name) + " attributes");
  }
  return std::nullopt;
}

std::optional<Error> CheckVersion(Document& doc, const Request& r) {
  if (!r.version) {
    ++doc.version;
  } else if (*r.version == -1) {
    doc.version = 0;  // reset: accepted whatever is stored
  } else if (*r.version <= doc.version) {
    return Fail(kVersionConflict, "version " + std::to_string(*r.version) +
                                      " is not greater than the stored " + std::to_string(doc.version));
  } else {
    doc.version = *r.version;
  }
  return std::nullopt;
}

json StateJson(const Document& doc, bool always) {
  json state = json::object();
  json meta = json::object();
  if (always || !doc.reported.empty()) {
    state["reported"] = doc.reported;
    meta["reported"] = doc.reported_meta;
  }
  if (always || !doc.desired.empty()) {
    state["desired"] = doc.desired;
    meta["desired"] = doc.desired_meta;
  }
  return json{{"state", std::move(state)}, {"metadata", std::move(meta)}};
}

std::string Dump(const json& value) {
  std::string out;
  detail::AppendJson(out, value);
  return out;
}

}  // namespace

std::size_t Depth(const json& value) {
  if (!value.is_structured()) {
    return 0;
  }
  std::size_t deepest = 0;
  for (const auto& member : value) {
    deepest = std::max(deepest, Depth(member));
  }
  return deepest + 1;
}

std::optional<Error> ParseRequest(std::string_view text, Request& out) {
  out = Request{};
  if (text.size() > kMaxBytes) {
    return Fail(kBadJson, "message larger than " + std::to_string(kMaxBytes) + " bytes");
  }
  json root;
  if (auto ec = detail::ParseJson(text, kMessageDepth, root); ec) {
    return ec == Errc::kTooDeep ? Fail(kBadJson, "JSON nested deeper than " + std::to_string(kMaxDepth) +
                                                     " levels below state")
                                : Fail(kBadJson, "not JSON");
  }
  if (!root.is_object()) {
    return Fail(kBadJson, "not a JSON object");
  }
  auto method = root.find("method");
  if (method == root.end()) {
    return Fail(kNoMethod, "no method");
  }
  const std::string name = method->is_string() ? method->get<std::string>() : std::string();
  if (name == "get") {
    out.method = Method::kGet;
    return std::nullopt;  // state and version do not matter
  }
  if (name == "update") {
    out.method = Method::kUpdate;
  } else if (name == "delete") {
    out.method = Method::kDelete;
  } else {
    return Fail(kInvalidMethod, "method must be update, get or delete");
  }
  auto state = root.find("state");
  if (state == root.end() || !state->is_object()) {
    return Fail(kNoState, "no state object");
  }
  if (auto version = root.find("version"); version != root.end()) {
    if (!version->is_number_integer()) {
      return Fail(kVersionNotNumber, "version is not an integer");
    }
    out.version = version->get<std::int64_t>();
  }
  if (auto e = TakeSection(*state, "reported", out.reported)) {
    return e;
  }
  if (auto e = TakeSection(*state, "desired", out.desired)) {
    return e;
  }
  if (out.method == Method::kDelete) {
    out.desired.reset();  // a delete removes reported attributes only
    if (!out.reported) {
      return Fail(kNoReported, "no state.reported");
    }
    if (out.reported->is_object()) {
      for (auto it = out.reported->begin(); it != out.reported->end(); ++it) {
        if (!IsNullText(it.value())) {
          return Fail(kBadJson, "delete takes \"null\" values: " + it.key());
        }
      }
    }
  } else if (!out.reported && !out.desired) {
    return Fail(kNoReported, "no state.reported");
  }
  if (out.reported && out.reported->is_object() && out.reported->empty()) {
    return Fail(kReportedEmpty, "state.reported is empty");
  }
  return std::nullopt;
}

std::optional<Error> Apply(Document& doc, const Request& r, std::int64_t now_s) {
  if (r.method == Method::kGet) {
    return std::nullopt;
  }
  if (auto e = CheckVersion(doc, r)) {
    return e;
  }
  if (r.reported) {
    if (auto e = ApplySection(doc.reported, doc.reported_meta, *r.reported, "reported", now_s)) {
      return e;
    }
  }
  if (r.desired) {
    if (auto e = ApplySection(doc.desired, doc.desired_meta, *r.desired, "desired", now_s)) {
      return e;
    }
  }
  doc.timestamp = now_s;
  if (StoreText(doc).size() > kMaxBytes) {
    return Fail(kBadJson, "the shadow would be larger than " + std::to_string(kMaxBytes) + " bytes");
  }
  return std::nullopt;
}

std::string StoreText(const Document& doc) {
  json stored = StateJson(doc, true);
  stored["timestamp"] = doc.timestamp;
  return StorableJson(Dump(stored));  // jsonb refuses U+0000
}

Document FromStore(std::string_view text, std::int64_t version) {
  Document doc;
  doc.version = version;
  json root;
  if (detail::ParseJson(text, iot::kMaxJsonDepth, root) || !root.is_object()) {
    return doc;
  }
  auto section = [&](const char* group, const char* name) -> json {
    auto g = root.find(group);
    if (g == root.end() || !g->is_object()) {
      return json::object();
    }
    auto s = g->find(name);
    return s != g->end() && s->is_object() ? *s : json::object();
  };
  doc.reported = section("state", "reported");
  doc.desired = section("state", "desired");
  doc.reported_meta = section("metadata", "reported");
  doc.desired_meta = section("metadata", "desired");
  if (auto t = root.find("timestamp"); t != root.end() && t->is_number_integer()) {
    doc.timestamp = t->get<std::int64_t>();
  }
  return doc;
}

std::string SuccessText(std::int64_t version, std::int64_t now_s) {
  return Dump(json{
      {"method", "reply"}, {"payload", {{"status", "success"}, {"version", version}}}, {"timestamp", now_s}});
}

std::string ErrorText(const Error& error, std::int64_t now_s) {
  return Dump(
      json{{"method", "reply"},
           {"payload",
            {{"status", "error"},
             {"content", {{"errorcode", std::to_string(error.code)}, {"errormessage", error.message}}}}},
           {"timestamp", now_s}});
}

std::string DocumentText(const Document& doc, std::string_view method, std::int64_t now_s) {
  json payload = StateJson(doc, false);
  payload["status"] = "success";
  return Dump(json{
      {"method", method}, {"payload", std::move(payload)}, {"version", doc.version}, {"timestamp", now_s}});
}

json DocumentJson(const Document& doc) {
  json out = StateJson(doc, true);
  out["timestamp"] = doc.timestamp;
  out["version"] = doc.version;
  return out;
}

}  // namespace iot::alink::shadow

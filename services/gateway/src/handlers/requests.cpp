#include <string>
#include <string_view>
#include <utility>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/alink/envelope.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/safe_text.hpp"
#include "reply.hpp"

// Requests: the device asks for something (desired values, its thing model, a tag change, the time).
namespace iot::gateway {
namespace handler_detail {
namespace {

constexpr std::size_t kMaxTags = 200;
constexpr std::size_t kMaxTagKeyBytes = 64;
constexpr std::size_t kMaxTagValueBytes = 1024;

bool ValidTagKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxTagKeyBytes) {
    return false;
  }
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(key.front())) {
    return false;
  }
  for (char c : key) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

// Tag updates and deletes carry a list of 1 to 200 tags; otherwise refused (460) and false.
bool TagListOk(Context& c, const json& params) {
  if (!params.is_array() || params.empty()) {
    c.Fail(codes::kParamError, "params must be a non-empty array");
    return false;
  }
  if (params.size() > kMaxTags) {
    c.Fail(codes::kParamError, "more than 200 tags");
    return false;
  }
  return true;
}

}  // namespace

void HandleDesiredGet(Context& c, const ProductEntry& p, const json& params, Work& out) {
  tsl::Report report = MakeValidator(p).DesiredGet(params, c.now());
  if (!report.request_ok()) {
    return c.Fail(report.code, report.message);
  }
  DesiredGetOp op;
  op.device_id = c.device_id;
  for (const auto& item : report.accepted) {
    op.identifiers.push_back(StorableText(item.identifier));
  }
  json data = json::object();
  for (const auto& r : report.refused) {
    c.Refuse(r, nullptr, data);
  }
  out.op = std::move(op);
  c.Answer(codes::kSuccess, std::move(data));  // the writer adds the values
}

void HandleDesiredDelete(Context& c, const ProductEntry& p, const json& params, Work& out) {
  tsl::Report report = MakeValidator(p).DesiredDelete(params, c.now());
  if (!report.request_ok()) {
    return c.Fail(report.code, report.message);
  }
  DesiredDeleteOp op;
  op.device_id = c.device_id;
  for (const auto& item : report.accepted) {
    store::DesiredChange change;
    change.identifier = StorableText(item.identifier);
    if (params.is_object()) {
      auto it = params.find(std::string(item.identifier));
      if (it != params.end() && it->is_object()) {
        auto v = it->find("version");
        if (v != it->end() && v->is_number_integer()) {
          change.expected_version = v->get<int>();
        }
      }
    }
    op.changes.push_back(std::move(change));
  }
  json data = json::object();
  for (const auto& r : report.refused) {
    c.Refuse(r, &params, data);
  }
  out.op = std::move(op);
  c.Answer(codes::kSuccess, std::move(data));
}

void HandleDslTemplateGet(Context& c, const ProductEntry& p) {
  if (!p.version || p.tsl_json.empty()) {
    return c.Fail(codes::kPropertyDefsUnavailable, "no published thing model");
  }
  json tsl = json::parse(p.tsl_json, nullptr, false);
  if (tsl.is_discarded()) {
    return c.Fail(codes::kPropertyDefsUnavailable, "thing model unreadable");
  }
  c.Answer(codes::kSuccess, std::move(tsl));
}

void HandleTagsUpdate(Context& c, const json& params, Work& out) {
  if (!TagListOk(c, params)) {
    return;
  }
  TagsUpdateOp op;
  op.device_id = c.device_id;
  for (const json& item : params) {
    if (!item.is_object()) {
      return c.Fail(codes::kParamError, "tags must be objects");
    }
    auto k = item.find("attrKey");
    auto v = item.find("attrValue");
    if (k == item.end() || !k->is_string() || !ValidTagKey(k->get_ref<const std::string&>())) {
      return c.Fail(codes::kParamError,
                    "attrKey must be 1-64 letters, digits or _, not starting with a digit");
    }
    if (v == item.end() || !(v->is_string() || v->is_number())) {
      return c.Fail(codes::kParamError, k->get<std::string>() + ": attrValue must be a string");
    }
    std::string value = v->is_string() ? v->get<std::string>() : v->dump();
    if (value.empty() || value.size() > kMaxTagValueBytes) {
      return c.Fail(codes::kParamError, k->get<std::string>() + ": attrValue must be 1-1024 bytes");
    }
    op.tags[k->get<std::string>()] = StorableText(value);  // the key is checked: ASCII
  }
  out.op = std::move(op);
  c.Answer(codes::kSuccess);
}

void HandleTagsDelete(Context& c, const json& params, Work& out) {
  if (!TagListOk(c, params)) {
    return;
  }
  TagsDeleteOp op;
  op.device_id = c.device_id;
  for (const json& item : params) {
    auto k = item.is_object() ? item.find("attrKey") : item.end();
    if (!item.is_object() || k == item.end() || !k->is_string() ||
        !ValidTagKey(k->get_ref<const std::string&>())) {
      return c.Fail(codes::kParamError,
                    "attrKey must be 1-64 letters, digits or _, not starting with a digit");
    }
    op.keys.push_back(k->get<std::string>());
  }
  out.op = std::move(op);
  c.Answer(codes::kSuccess);
}

}  // namespace handler_detail

// NTP: answered at once, nothing stored.
HandleStatus Handler::HandleNtp(const InboundMessage& in, const alink::Topic& topic, TimeMs now_ms,
                                Work& out) {
  auto req = alink::DecodeNtpRequest(in.payload);
  std::optional<Reply> reply = req ? replies::ForNtp(topic, *req, in.received_ms, now_ms) : std::nullopt;
  if (!reply) {
    metrics_.requests_refused.Add(
        std::to_string(req ? codes::kTopicParseFailed : alink::AlinkCode(req.error())));
    return HandleStatus::kIgnore;
  }
  out.reply = std::move(reply);
  metrics_.replies.Add(std::to_string(codes::kSuccess));
  return HandleStatus::kWork;
}

}  // namespace iot::gateway

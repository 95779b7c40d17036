#include "iot/alink/envelope.hpp"

#include <charconv>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"
#include "json_parse.hpp"

namespace iot::alink {
namespace {

using Json = nlohmann::json;

// Parses with the size and depth limits and requires a top-level object.
boost::system::error_code ParseObject(std::string_view payload, Json& root, std::string_view capture_key,
                                      std::string* captured) {
  if (payload.size() > kMaxPayloadBytes) {
    return Errc::kPayloadTooLarge;
  }
  if (auto ec = detail::ParseJson(payload, kMaxJsonDepth, root, capture_key, captured)) {
    return ec;
  }
  if (!root.is_object()) {
    return Errc::kNotObject;
  }
  return {};
}

// `id` as a string or as the text of a number (captured during parsing).
boost::system::error_code TakeId(Json::object_t& obj, std::string& captured, std::string& out) {
  const auto it = obj.find("id");
  if (it == obj.end()) {
    return Errc::kMissingField;
  }
  if (auto* s = it->second.get_ptr<std::string*>()) {
    out = std::move(*s);
    return {};
  }
  if (it->second.is_number()) {
    out = std::move(captured);
    return {};
  }
  return Errc::kBadFieldType;
}

// Optional string member; JSON null counts as absent.
boost::system::error_code TakeString(Json::object_t& obj, const char* key, std::string& out) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->second.is_null()) {
    return {};
  }
  if (auto* s = it->second.get_ptr<std::string*>()) {
    out = std::move(*s);
    return {};
  }
  return Errc::kBadFieldType;
}

JsonPtr TakeMember(Json::object_t& obj, const char* key) {
  JsonPtr out = MakeJson();
  const auto it = obj.find(key);
  if (it != obj.end()) {
    *out = std::move(it->second);
  }
  return out;
}

void AppendInt(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

void JsonDeleter::operator()(nlohmann::json* value) const noexcept { delete value; }

JsonPtr MakeJson() { return JsonPtr(new Json()); }

Result<Request> DecodeRequest(std::string_view payload) {
  Json root;
  std::string id_text;
  if (auto ec = ParseObject(payload, root, "id", &id_text)) {
    return ec;
  }
  auto& obj = *root.get_ptr<Json::object_t*>();
  Request req;
  if (auto ec = TakeId(obj, id_text, req.id)) {
    return ec;
  }
  if (auto ec = TakeString(obj, "version", req.version)) {
    return ec;
  }
  if (auto ec = TakeString(obj, "method", req.method)) {
    return ec;
  }
  // `sys.ack`: only an explicit 0/false suppresses the reply; anything else is tolerated.
  if (const auto sys = obj.find("sys"); sys != obj.end() && sys->second.is_object()) {
    const auto& sys_obj = *sys->second.get_ptr<const Json::object_t*>();
    if (const auto ack = sys_obj.find("ack"); ack != sys_obj.end()) {
      const Json& a = ack->second;
      if ((a.is_number() && a == 0) || (a.is_boolean() && !a.get<bool>())) {
        req.ack = false;
      }
    }
  }
  req.params = TakeMember(obj, "params");
  return req;
}

Result<Reply> DecodeReply(std::string_view payload) {
  Json root;
  std::string id_text;
  if (auto ec = ParseObject(payload, root, "id", &id_text)) {
    return ec;
  }
  auto& obj = *root.get_ptr<Json::object_t*>();
  Reply reply;
  if (auto ec = TakeId(obj, id_text, reply.id)) {
    return ec;
  }
  const auto code = obj.find("code");
  if (code == obj.end()) {
    return Errc::kMissingField;
  }
  if (code->second.is_number_integer()) {
    const auto v = code->second.get<std::int64_t>();
    if (v < INT32_MIN || v > INT32_MAX || (code->second.is_number_unsigned() && v < 0)) {
      return Errc::kBadFieldType;
    }
    reply.code = static_cast<int>(v);
  } else if (const auto* s = code->second.get_ptr<const std::string*>()) {
    const auto* end = s->data() + s->size();
    const auto r = std::from_chars(s->data(), end, reply.code);
    if (s->empty() || r.ec != std::errc() || r.ptr != end) {
      return Errc::kBadFieldType;
    }
  } else {
    return Errc::kBadFieldType;
  }
  if (auto ec = TakeString(obj, "message", reply.message)) {
    return ec;
  }
  if (auto ec = TakeString(obj, "method", reply.method)) {
    return ec;
  }
  reply.data = TakeMember(obj, "data");
  return reply;
}

std::string_view DefaultMessage(int code) noexcept {
  switch (code) {
    case codes::kSuccess: return "success";
    case codes::kRequestError: return "request error";
    case codes::kSignatureInvalid: return "signature check failed";
    case codes::kTooManyRequests: return "too many requests";
    case codes::kParamError: return "request parameter error";
    case codes::kSystemError: return "unknown system error";
    case codes::kTopicParseFailed: return "topic parse failed";
    case codes::kNotJson: return "payload is not valid JSON";
    case codes::kMethodMismatch: return "method not supported";
    case codes::kTooManyProperties: return "too many properties";
    default: return "error";
  }
}

std::string BuildReply(std::string_view id, int code, std::string_view method) {
  static const Json kEmptyObject = Json::object();
  return BuildReply(id, code, method, kEmptyObject, DefaultMessage(code));
}

std::string BuildReply(std::string_view id, int code, std::string_view method, const Json& data,
                       std::string_view message) {
  std::string out;
  out.reserve(64 + id.size() + method.size() + message.size());
  out += "{\"id\":";
  AppendJsonString(out, id);
  out += ",\"code\":";
  AppendInt(out, code);
  out += ",\"data\":";
  detail::AppendJson(out, data);
  out += ",\"message\":";
  AppendJsonString(out, message);
  out += ",\"method\":";
  AppendJsonString(out, method);
  out += ",\"version\":\"1.0\"}";
  return out;
}

std::string BuildRequest(std::string_view id, std::string_view method, const Json& params) {
  std::string out;
  out.reserve(64 + id.size() + method.size());
  out += "{\"id\":";
  AppendJsonString(out, id);
  out += ",\"version\":\"1.0\",\"params\":";
  detail::AppendJson(out, params);
  out += ",\"method\":";
  AppendJsonString(out, method);
  out += '}';
  return out;
}

Result<NtpRequest> DecodeNtpRequest(std::string_view payload) {
  Json root;
  std::string number_text;
  if (auto ec = ParseObject(payload, root, "deviceSendTime", &number_text)) {
    return ec;
  }
  const auto& obj = *root.get_ptr<Json::object_t*>();
  const auto it = obj.find("deviceSendTime");
  if (it == obj.end()) {
    return Errc::kMissingField;
  }
  NtpRequest req;
  if (const auto* s = it->second.get_ptr<const std::string*>()) {
    req.device_send_time = *s;
    req.as_string = true;
  } else if (it->second.is_number()) {
    req.device_send_time = std::move(number_text);
    req.as_string = false;
  } else {
    return Errc::kBadFieldType;
  }
  return req;
}

std::string BuildNtpResponse(const NtpRequest& request, std::int64_t server_recv_ms,
                             std::int64_t server_send_ms) {
  std::string out;
  out.reserve(96 + request.device_send_time.size());
  const auto append_time = [&](std::int64_t v) {
    if (request.as_string) {
      out += '"';
    }
    AppendInt(out, v);
    if (request.as_string) {
      out += '"';
    }
  };
  out += "{\"deviceSendTime\":";
  if (request.as_string) {
    AppendJsonString(out, request.device_send_time);
  } else {
    out += request.device_send_time;  // the device's own number text
  }
  out += ",\"serverRecvTime\":";
  append_time(server_recv_ms);
  out += ",\"serverSendTime\":";
  append_time(server_send_ms);
  out += '}';
  return out;
}

}  // namespace iot::alink

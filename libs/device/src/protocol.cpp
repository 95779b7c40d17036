#include "iot/device/protocol.hpp"

#include <charconv>
#include <utility>

#include "iot/alink/envelope.hpp"
#include "iot/alink/topic.hpp"
#include "iot/common/json.hpp"
#include "iot/common/signed_url.hpp"

namespace iot::device {
namespace {

using alink::TopicKind;

std::string Format(TopicKind kind, const std::string& pk, const std::string& dn,
                   std::string_view identifier = {}, bool reply = false) {
  alink::Topic t;
  t.kind = kind;
  t.product_key = pk;
  t.device_name = dn;
  t.identifier = std::string(identifier);
  t.reply = reply;
  return alink::FormatTopic(t);
}

std::optional<std::int64_t> Int64Field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) {
    return std::nullopt;
  }
  if (it->is_number_integer()) {
    return it->get<std::int64_t>();
  }
  if (it->is_number_float()) {
    return static_cast<std::int64_t>(it->get<double>());
  }
  if (!it->is_string()) {
    return std::nullopt;
  }
  const std::string& text = it->get_ref<const std::string&>();
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

DeviceTopics::DeviceTopics(std::string product_key, std::string device_name)
    : pk_(std::move(product_key)), dn_(std::move(device_name)) {}

std::string DeviceTopics::PropertyPost() const { return Format(TopicKind::kPropertyPost, pk_, dn_); }

std::string DeviceTopics::EventPost(std::string_view id) const {
  return Format(TopicKind::kEventPost, pk_, dn_, id);
}

std::string DeviceTopics::ShadowUpdate() const { return Format(TopicKind::kShadowUpdate, pk_, dn_); }

std::string DeviceTopics::ShadowGet() const { return Format(TopicKind::kShadowGet, pk_, dn_); }

std::string DeviceTopics::DesiredGet() const { return Format(TopicKind::kDesiredGet, pk_, dn_); }

std::string DeviceTopics::DesiredDelete() const { return Format(TopicKind::kDesiredDelete, pk_, dn_); }

std::string DeviceTopics::DslTemplateGet() const { return Format(TopicKind::kDslTemplateGet, pk_, dn_); }

std::string DeviceTopics::ConfigGet() const { return Format(TopicKind::kConfigGet, pk_, dn_); }
std::string DeviceTopics::OtaFirmwareGet() const { return Format(TopicKind::kOtaFirmwareGet, pk_, dn_); }

std::string DeviceTopics::NtpRequest() const { return Format(TopicKind::kNtpRequest, pk_, dn_); }

std::string DeviceTopics::TopoAdd() const { return Format(TopicKind::kTopoAdd, pk_, dn_); }

std::string DeviceTopics::TopoDelete() const { return Format(TopicKind::kTopoDelete, pk_, dn_); }

std::string DeviceTopics::TopoGet() const { return Format(TopicKind::kTopoGet, pk_, dn_); }

std::string DeviceTopics::PackPost() const { return Format(TopicKind::kPropertyPackPost, pk_, dn_); }

std::string DeviceTopics::Session(TopicKind kind) const { return Format(kind, pk_, dn_); }

std::vector<std::string> DeviceTopics::GatewaySubscriptions() const {
  const std::string own = "/sys/" + pk_ + "/" + dn_ + "/";
  std::vector<std::string> out;
  for (std::string& filter : Subscriptions()) {
    if (filter.starts_with(own)) {
      filter = "/sys/+/+/" + filter.substr(own.size());
    }
    out.push_back(std::move(filter));
  }
  std::vector<std::string> gateway = {
      "/sys/+/+/thing/disable", "/sys/+/+/thing/enable", "/sys/+/+/thing/delete", TopoAdd() + "_reply",
      TopoDelete() + "_reply",  TopoGet() + "_reply",    PackPost() + "_reply",
  };
  out.insert(out.end() - 1, gateway.begin(), gateway.end());  // NTP's (QoS 0) stays last
  return out;
}

std::vector<std::string> DeviceTopics::Subscriptions() const {
  const std::string base = "/sys/" + pk_ + "/" + dn_ + "/";
  return {
      base + "thing/event/+/post_reply",  // property and event post replies
      base + "thing/service/property/set",
      base + "thing/service/+",  // async services
      base + "rrpc/request/+",   // sync services
      base + "thing/property/desired/get_reply",
      base + "thing/property/desired/delete_reply",
      base + "thing/dsltemplate/get_reply",
      base + "thing/config/get_reply",
      base + "thing/config/push",
      base + "thing/ota/firmware/get_reply",
      ShadowGet(),
      "/ext/ntp/" + pk_ + "/" + dn_ + "/response",
  };
}

bool ParseShadowMessage(std::string_view payload, ShadowReply& out) {
  nlohmann::json root;
  if (iot::ParseJson(payload, root) != JsonParseStatus::kOk || !root.is_object()) {
    return false;
  }
  auto method = root.find("method");
  auto body = root.find("payload");
  if (method == root.end() || !method->is_string() || body == root.end() || !body->is_object()) {
    return false;
  }
  out.method = method->get<std::string>();
  out.version = Int64Field(root, "version").value_or(Int64Field(*body, "version").value_or(0));
  out.timestamp = Int64Field(root, "timestamp").value_or(0);
  if (body->value("status", "") == "success") {
    out.code = 200;
  } else {
    auto content = body->find("content");
    out.code = content != body->end() && content->is_object()
                   ? static_cast<int>(Int64Field(*content, "errorcode").value_or(0))
                   : 0;
    if (content != body->end() && content->is_object()) {
      out.message = content->value("errormessage", "");
    }
  }
  if (auto state = body->find("state"); state != body->end() && state->is_object()) {
    out.state = *state;
  }
  if (auto meta = body->find("metadata"); meta != body->end() && meta->is_object()) {
    out.metadata = *meta;
  }
  return true;
}

std::string BuildShadowRequest(std::string_view method, const nlohmann::json& state,
                               std::optional<std::int64_t> version) {
  nlohmann::json message = {{"method", method}};
  if (!state.is_null()) {
    message["state"] = state;
  }
  if (version) {
    message["version"] = *version;
  }
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<Refusal> ParseRefusals(const nlohmann::json& data) {
  std::vector<Refusal> out;
  if (!data.is_object()) {
    return out;
  }
  for (auto it = data.begin(); it != data.end(); ++it) {
    const nlohmann::json& v = it.value();
    if (v.is_string()) {
      out.push_back(Refusal{it.key(), 0, v.get<std::string>()});
    } else if (v.is_object()) {
      auto code = v.find("code");
      if (code == v.end() || !code->is_number_integer()) {
        continue;
      }
      auto message = v.find("message");
      out.push_back(
          Refusal{it.key(), code->get<int>(),
                  message != v.end() && message->is_string() ? message->get<std::string>() : std::string()});
    }
  }
  return out;
}

bool ParseReplyPayload(std::string_view payload, bool post, Reply& out) {
  auto reply = alink::DecodeReply(payload);
  if (!reply) {
    return false;
  }
  out.id = std::move(reply->id);
  out.code = reply->code;
  out.message = std::move(reply->message);
  out.data = reply->data->is_null() ? nlohmann::json::object() : std::move(*reply->data);
  if (post) {
    out.refusals = ParseRefusals(out.data);
  }
  return true;
}

nlohmann::json SubDeviceSignParams(const SubDeviceIdentity& sub, std::int64_t timestamp_ms, bool login) {
  const std::string client_id = sub.product_key + "." + sub.device_name;
  const std::string timestamp = std::to_string(timestamp_ms);
  nlohmann::json params = {
      {"productKey", sub.product_key},
      {"deviceName", sub.device_name},
      {"clientId", client_id},
      {"timestamp", timestamp},
      {login ? "signMethod" : "signmethod", std::string(alink::SignMethodName(sub.sign_method))},
      {"sign", alink::Sign(sub.sign_method, sub.device_secret,
                           alink::SignContent(client_id, sub.device_name, sub.product_key, timestamp))},
  };
  if (login) {
    params["cleanSession"] = "true";
  }
  return params;
}

std::string BuildNtpRequest(std::int64_t device_send_ms) {
  return nlohmann::json{{"deviceSendTime", std::to_string(device_send_ms)}}.dump();
}

std::optional<NtpResponse> ParseNtpResponse(std::string_view payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return std::nullopt;
  }
  auto send = Int64Field(j, "deviceSendTime");
  auto recv = Int64Field(j, "serverRecvTime");
  auto server_send = Int64Field(j, "serverSendTime");
  if (!send || !recv || !server_send) {
    return std::nullopt;
  }
  return NtpResponse{*send, *recv, *server_send};
}

TimeSync ComputeTimeSync(const NtpResponse& r, std::int64_t device_recv_ms) {
  TimeSync s;
  s.outcome = Outcome::kReplied;
  s.server_time_ms = (r.server_recv_ms + r.server_send_ms + device_recv_ms - r.device_send_ms) / 2;
  s.offset_ms = s.server_time_ms - device_recv_ms;
  s.round_trip = std::chrono::milliseconds(device_recv_ms - r.device_send_ms);
  return s;
}

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kReplied: return "replied";
    case Outcome::kTimedOut: return "timed_out";
    case Outcome::kWindowFull: return "window_full";
    case Outcome::kStopped: return "stopped";
    case Outcome::kInvalid: return "invalid";
  }
  return "unknown";
}

bool ConfigFileMatches(const alink::ConfigFile& config, std::string_view file) {
  if (static_cast<std::int64_t>(file.size()) != config.size) {
    return false;
  }
  std::string sign = config.sign;
  for (char& c : sign) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return Sha256Hex(file) == sign;
}

}  // namespace iot::device

#include "reply.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "iot/alink/ota.hpp"
#include "iot/catalog/ota_package.hpp"
#include "iot/common/codes.hpp"

namespace iot::gateway::replies {

std::optional<Reply> ForRequest(const alink::Topic& topic, const std::optional<std::string>& reply_to,
                                std::string id, std::string method, int code, nlohmann::json data,
                                std::string message) {
  Reply r;
  if (reply_to) {
    r.topic = *reply_to;
  } else {
    auto reply_topic = alink::ReplyTopicFor(topic);
    if (!reply_topic) {
      return std::nullopt;
    }
    r.topic = alink::FormatTopic(*reply_topic);
  }
  r.id = std::move(id);
  r.method = method.empty() ? alink::ExpectedMethod(topic) : std::move(method);
  r.code = code;
  r.data = std::move(data);
  r.message = std::move(message);
  return r;
}

std::optional<Reply> ForNtp(const alink::Topic& topic, const alink::NtpRequest& request, TimeMs received_ms,
                            TimeMs now_ms) {
  auto reply_topic = alink::ReplyTopicFor(topic);
  if (!reply_topic) {
    return std::nullopt;
  }
  Reply r;
  r.topic = alink::FormatTopic(*reply_topic);
  r.raw = alink::BuildNtpResponse(request, received_ms, now_ms);
  r.code = codes::kSuccess;
  return r;
}

std::optional<Reply> ForShadow(const alink::Topic& topic, int code, std::string text) {
  if (topic.kind != alink::TopicKind::kShadowUpdate) {
    return std::nullopt;
  }
  auto reply_topic = alink::ReplyTopicFor(topic);
  if (!reply_topic) {
    return std::nullopt;
  }
  Reply r;
  r.topic = alink::FormatTopic(*reply_topic);
  r.code = code;
  r.raw = std::move(text);
  return r;
}

void SetShadowAnswer(Reply& reply, const ShadowOp& op, const OpResult& result) {
  namespace shadow = alink::shadow;
  std::optional<shadow::Error> error = result.shadow_refused;
  if (!error && op.request.method == shadow::Method::kGet && result.shadow.Empty()) {
    error = shadow::Error{shadow::kEmptyShadow, "the shadow is empty"};
  }
  if (error) {
    reply.code = error->code;
    reply.raw = shadow::ErrorText(*error, op.now_s);
  } else if (op.request.method == shadow::Method::kGet) {
    reply.code = codes::kSuccess;
    reply.raw = shadow::DocumentText(result.shadow, "reply", op.now_s);
  } else {
    reply.code = codes::kSuccess;
    reply.raw = shadow::SuccessText(result.shadow.version, op.now_s);
  }
}

void SetOtaPackage(Reply& reply, const OtaFirmwareGetOp& op, const OpResult& result) {
  if (!result.ota_pending) {
    reply.data = nlohmann::json::object();
    return;
  }
  reply.data = alink::OtaPackageData(catalog::OtaPackageFor(
      result.ota_pending->firmware, op.url_key, op.base_url, op.now_s, result.ota_pending->task_id));
}

void SetTopologyAnswer(Reply& reply, const TopologyOp& op, const OpResult& result) {
  using Refusal = OpResult::TopologyRefusal;
  if (result.topology_refusal != Refusal::kNone) {
    std::string device;
    const auto i = result.topology_index;
    if (i < op.signs.size()) {
      device = op.signs[i].product_key + "/" + op.signs[i].device_name;
    } else if (i < op.devices.size()) {
      device = op.devices[i].product_key + "/" + op.devices[i].device_name;
    }
    auto set = [&](int code, std::string_view what) {
      reply.code = code;
      reply.message = std::string(what) + (device.empty() ? "" : ": " + device);
    };
    switch (result.topology_refusal) {
      case Refusal::kNotGateway: set(codes::kParamError, "the device is not a gateway"); break;
      case Refusal::kUnknownDevice: set(codes::kDeviceNotFound, "device not found"); break;
      case Refusal::kBadSign: set(codes::kSignatureInvalid, "sub-device sign check failed"); break;
      case Refusal::kSelf: set(codes::kTopoSelf, "a gateway cannot add itself"); break;
      case Refusal::kOtherGateway:
        set(codes::kTopoOtherGateway, "device already bound to another gateway");
        break;
      case Refusal::kTooMany:
        set(codes::kTopoTooMany, "too many sub-devices under the gateway (1500)");
        break;
      case Refusal::kNotInTopology: set(codes::kTopoNotExist, "topological relation not exist"); break;
      case Refusal::kRegistrationOff:
        set(codes::kDynamicRegistrationOff, "dynamic registration is off");
        break;
      case Refusal::kNone: break;
    }
    reply.data = nlohmann::json::object();
    return;
  }
  if (op.action == TopologyOp::Action::kFound) {
    reply.code = codes::kSuccess;
    reply.message.clear();
    reply.data = nlohmann::json::object();
    return;
  }
  nlohmann::json data = nlohmann::json::array();
  for (std::size_t i = 0; i < result.topology.size(); ++i) {
    const auto& sub = result.topology[i];
    if (op.action == TopologyOp::Action::kRegister) {
      data.push_back(
          {{"iotId", sub.iot_id},
           {"productKey", sub.product_key},
           {"deviceName", sub.device_name},
           {"deviceSecret", i < result.registered_secrets.size() ? result.registered_secrets[i] : ""}});
    } else {
      data.push_back({{"productKey", sub.product_key}, {"deviceName", sub.device_name}});
    }
  }
  reply.code = codes::kSuccess;
  reply.message.clear();
  reply.data = std::move(data);
}

void StorageFailed(Reply& reply) {
  reply.code = codes::kSystemError;
  reply.data = nlohmann::json::object();
  reply.message = "storage failed";
  if (reply.encoder) {
    reply.raw.clear();  // re-encoded at publish
  }
}

void AddDesiredValues(Reply& reply, const std::vector<std::string>& identifiers,
                      const std::vector<store::DesiredProperty>& values) {
  for (const auto& d : values) {
    if (!d.value_json) {
      continue;  // cleared
    }
    if (!identifiers.empty() &&
        std::find(identifiers.begin(), identifiers.end(), d.identifier) == identifiers.end()) {
      continue;
    }
    nlohmann::json value = nlohmann::json::parse(*d.value_json, nullptr, false);
    if (value.is_discarded()) {
      continue;
    }
    reply.data[d.identifier] = nlohmann::json{{"value", std::move(value)}, {"version", d.version}};
  }
}

std::string AlinkText(const Reply& reply) {
  return alink::BuildReply(
      reply.id, reply.code, reply.method, reply.data,
      reply.message.empty() ? alink::DefaultMessage(reply.code) : std::string_view(reply.message));
}

std::string Payload(const Reply& reply) {
  if (!reply.raw.empty()) {
    return reply.raw;
  }
  std::string payload = AlinkText(reply);
  if (reply.encoder) {
    if (auto bytes = reply.encoder->Encode(payload)) {
      payload = std::move(*bytes);
    }
  }
  return payload;
}

}  // namespace iot::gateway::replies

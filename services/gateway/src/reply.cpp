#include "reply.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

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

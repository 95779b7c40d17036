// Custom topics, broadcast and custom RRPC (reference §2.2 and the Pub, PubBroadcast and RRpc
// operations of §7.5). The delivery state machine lives in control/MessageService; this file checks
// topics, payloads and the device's state, and shapes the answers.
#include <utility>

#include "control/message_service.hpp"
#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/alink/custom_topic.hpp"
#include "iot/store/device_messages.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/products.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kMessagesKind = "msg";
constexpr std::int64_t kMaxTtlMs = 7LL * 24 * 3600 * 1000;  // Alibaba keeps QoS 1 messages 7 days
constexpr std::int64_t kDefaultTtlMs = 24LL * 3600 * 1000;
constexpr std::int64_t kMinRrpcTimeoutMs = 1000;  // Alibaba's RRpc: Timeout 1000..8000 ms
constexpr std::int64_t kMaxRrpcTimeoutMs = 8000;
// Base64 of 256 KiB is 4/3 as long.
constexpr double kMaxPayloadText = double(store::kMaxMessagePayloadBytes) * 4 / 3 + 4;

const BodySchema& MessageSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Required("topic", FieldType::kString, {.min = 1, .max = 1024})
          .Required("payload", FieldType::kString, {.max = kMaxPayloadText})
          .Optional("encoding", FieldType::kString, {.one_of = {"text", "base64"}})
          .Optional("qos", FieldType::kInteger, {.min = 0, .max = 1})
          .Optional("ttlMs", FieldType::kInteger, {.min = 1000, .max = double(kMaxTtlMs)});
  return kSchema;
}

const BodySchema& BroadcastSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Required("topic", FieldType::kString, {.min = 1, .max = 1024})
          .Required("payload", FieldType::kString, {.max = kMaxPayloadText})
          .Optional("encoding", FieldType::kString, {.one_of = {"text", "base64"}})
          .Optional("qos", FieldType::kInteger, {.min = 0, .max = 1});
  return kSchema;
}

const BodySchema& RrpcSchema() {
  static const BodySchema kSchema =
      BodySchema()
          .Required("topic", FieldType::kString, {.min = 1, .max = 1024})
          .Required("payload", FieldType::kString, {.max = kMaxPayloadText})
          .Optional("encoding", FieldType::kString, {.one_of = {"text", "base64"}})
          .Optional("timeoutMs", FieldType::kInteger,
                    {.min = double(kMinRrpcTimeoutMs), .max = double(kMaxRrpcTimeoutMs)});
  return kSchema;
}

MessageService& Messages(HandlerContext& context) {
  if (context.messages == nullptr) {
    throw ApiError::Unavailable("messaging is not configured (IOT_MQTT_HOST is not set)");
  }
  return *context.messages;
}

ApiError BadField(std::string pointer, std::string message) {
  return ApiError::BadRequest(message, {{std::move(pointer), 0, message}});
}

// The payload's bytes from the body's payload and encoding (400 when not valid base64 or too large).
std::string PayloadOf(const nlohmann::json& body) {
  auto decoded =
      alink::DecodePayload(body.value("encoding", std::string("text")), body["payload"].get<std::string>());
  if (!decoded.problem.empty()) {
    throw BadField("/payload", decoded.problem);
  }
  if (decoded.bytes.size() > store::kMaxMessagePayloadBytes) {
    throw BadField("/payload", "the payload is larger than 256 KiB");
  }
  return std::move(decoded.bytes);
}

// The device a message goes to: 404 unknown, 409 disabled.
store::Device Target(store::Db& db, const std::string& pk, const std::string& dn) {
  store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
  if (!device.enabled) {
    throw ApiError::Conflict("device " + pk + "/" + dn + " is disabled");
  }
  return device;
}

nlohmann::json PayloadJson(std::string_view bytes) {
  auto encoded = alink::EncodePayload(bytes);
  return {{"payload", std::move(encoded.text)}, {"encoding", std::move(encoded.encoding)}};
}

nlohmann::json MessageJson(const store::DeviceMessage& m) {
  nlohmann::json out = {{"id", std::to_string(m.id)},
                        {"direction", m.direction},
                        {"kind", m.kind},
                        {"topic", m.topic},
                        {"qos", m.qos},
                        {"status", m.status},
                        {"message", NullIfEmpty(m.message)},
                        {"requestedBy", NullIfEmpty(m.requested_by)},
                        {"time", m.ts},
                        {"sentAt", TimeOrNull(m.sent_at)},
                        {"expiresAt", TimeOrNull(m.expires_at)},
                        {"reply", m.reply ? PayloadJson(*m.reply) : nlohmann::json(nullptr)}};
  out.update(PayloadJson(m.payload));
  return out;
}

template <class Work>
decltype(auto) Messaging(Work&& work) {
  try {
    return std::forward<Work>(work)();
  } catch (const ControlError& failure) {
    throw ToApiError(failure);
  }
}

void SendMessage(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, MessageSchema());
  MessageService& messages = Messages(context);
  auto topic = alink::DeviceUserTopic(pk, dn, body["topic"].get<std::string>());
  if (!topic.problem.empty()) {
    throw BadField("/topic", topic.problem);
  }
  OutMessage out;
  out.topic = std::move(topic.topic);
  out.payload = PayloadOf(body);
  out.qos = body.value("qos", 0);
  out.ttl_ms = body.value("ttlMs", kDefaultTtlMs);
  out.requested_by = request.principal ? request.principal->name : "";
  RunOnDb(context.pool, respond, [&messages, request = std::move(request), pk, dn, out](store::Db& db) {
    return Messaging([&] {
      store::Device device = Target(db, pk, dn);
      store::DeviceMessage sent = messages.Send(db, device, out);
      Audit(db, request, "device.message.send", pk + "/" + dn,
            {{"topic", out.topic}, {"qos", out.qos}, {"messageId", std::to_string(sent.id)}});
      return JsonOk(sent.status == "queued" ? 202 : 200, MessageJson(sent));
    });
  });
}

void ListMessages(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  std::string direction(request.Query("direction").value_or(""));
  if (!direction.empty() && direction != "up" && direction != "down") {
    throw ApiError::BadRequest("query parameter direction must be up or down",
                               {{"", 0, "query parameter direction must be up or down"}});
  }
  store::TimeQuery query = ToTimeQuery(ParseListParams(request, true), kMessagesKind);
  RunOnDb(context.pool, respond, [pk, dn, direction, query](store::Db& db) {
    store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    auto page = Unwrap(store::ListDeviceMessages(db, device.id, direction, query));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& m : page.items) {
      items.push_back(MessageJson(m));
    }
    return JsonResponse(200, ListBody(items, WrapCursor(kMessagesKind, page.next_cursor)));
  });
}

void Broadcast(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  nlohmann::json body = ParseJsonBody(request, BroadcastSchema());
  MessageService& messages = Messages(context);
  auto topic = alink::BroadcastTopic(pk, body["topic"].get<std::string>());
  if (!topic.problem.empty()) {
    throw BadField("/topic", topic.problem);
  }
  std::string payload = PayloadOf(body);
  const int qos = body.value("qos", 0);
  RunOnDb(context.pool, respond,
          [&messages, request = std::move(request), pk, full = topic.topic, payload, qos](store::Db& db) {
            return Messaging([&] {
              Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
              messages.Broadcast(pk, full, payload, qos);
              Audit(db, request, "product.broadcast", pk, {{"topic", full}, {"qos", qos}});
              return JsonOk(200, {{"topic", full}, {"qos", qos}});
            });
          });
}

nlohmann::json RrpcJson(const store::DeviceMessage& m, std::string_view code) {
  nlohmann::json out = {{"rrpcCode", code}, {"message", MessageJson(m)}};
  if (m.reply) {
    out.update(PayloadJson(*m.reply));
  }
  return out;
}

void Rrpc(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, RrpcSchema());
  MessageService& messages = Messages(context);
  auto topic = alink::DeviceUserTopic(pk, dn, body["topic"].get<std::string>());
  if (!topic.problem.empty()) {
    throw BadField("/topic", topic.problem);
  }
  std::string payload = PayloadOf(body);
  const std::int64_t timeout_ms = body.value("timeoutMs", std::int64_t{5000});
  std::string requested_by = request.principal ? request.principal->name : "";
  RunOnDbLater(
      context.pool, respond,
      [&messages, request = std::move(request), pk, dn, full = topic.topic, payload, timeout_ms,
       requested_by](store::Db& db, Respond done) {
        Messaging([&] {
          store::Device device = Target(db, pk, dn);
          Audit(db, request, "device.rrpc", pk + "/" + dn, {{"topic", full}});
          messages.Rrpc(db, device, full, payload, timeout_ms, requested_by, [done](RrpcOutcome outcome) {
            if (outcome.error) {
              ApiError error = ToApiError(*outcome.error);
              if (outcome.message) {
                error.extra_members.emplace_back("rrpc", RrpcJson(*outcome.message, "TIMEOUT").dump());
              }
              done(ToResponse(error));
              return;
            }
            done(JsonOk(200, RrpcJson(*outcome.message, "SUCCESS")));
          });
        });
      });
}

const RouteSpec kRoutes[] = {
    {"POST", "/api/v1/products/{pk}/devices/{dn}/messages", kOperator, SendMessage},
    {"GET", "/api/v1/products/{pk}/devices/{dn}/messages", kViewer, ListMessages},
    {"POST", "/api/v1/products/{pk}/devices/{dn}/rrpc", kOperator, Rrpc},
    {"POST", "/api/v1/products/{pk}/broadcast", kOperator, Broadcast},
};

}  // namespace

void AddMessageRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

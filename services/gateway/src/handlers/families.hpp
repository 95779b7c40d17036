#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "directory.hpp"
#include "handlers/context.hpp"
#include "work.hpp"

// The device requests of each message family, as Handler::Dispatch calls them once the device is
// known and admitted and the method matches the topic. A new family (sub-device session and topology,
// OTA, remote config, shadow) is one new file in handlers/ with its functions declared here, and one
// case in Dispatch. Families that need the handler's own state (directory, scripts, metrics) are
// Handler members instead: lifecycle.cpp, device_replies.cpp, raw.cpp, NTP in requests.cpp.
namespace iot::gateway::handler_detail {

// telemetry.cpp: thing.event.property.post, thing.event.{id}.post, history and batch posts.
void HandlePropertyPost(Context& c, const ProductEntry& p, const json& params);
void HandleEventPost(Context& c, const ProductEntry& p, const json& params);
void HandleHistoryPost(Context& c, const ProductEntry& p, const json& params, std::size_t max_samples);
void HandleBatchPost(Context& c, const ProductEntry& p, const json& params, std::size_t max_samples);

// pack.cpp: thing.event.property.pack.post from a gateway (its own part and up to 20 sub-devices of
// its topology, all or nothing). Sub-device lookups go through the directory (retried while it is
// unavailable).
HandleStatus HandlePackPost(Context& c, const ProductEntry& gateway_product, const json& params,
                            Directory& directory);

// requests.cpp: desired properties, the thing model template, device tags.
void HandleDesiredGet(Context& c, const ProductEntry& p, const json& params, Work& out);
void HandleDesiredDelete(Context& c, const ProductEntry& p, const json& params, Work& out);
void HandleDslTemplateGet(Context& c, const ProductEntry& p);
void HandleTagsUpdate(Context& c, const json& params, Work& out);
void HandleTagsDelete(Context& c, const json& params, Work& out);

// shadow.cpp: the device shadow's update, get and delete (Handler::HandleShadow looks the device up
// and applies the shadow's rate limit first). Refusals are answered in the shadow's own JSON.
void HandleShadowRequest(Context& c, std::string_view payload, Work& out);
void AnswerShadowError(Context& c, int code, std::string message, Work& out);
// config.cpp: thing.config.get. The product's switch and current file come from the product cache
// (kept current by notification), the link is signed with the key every iot-api shares.
struct ConfigLinks {
  const std::string& key;       // raw bytes (Directory::UrlSigningKey)
  const std::string& base_url;  // IOT_PUBLIC_BASE_URL ("" = relative links)
};
void HandleConfigGet(Context& c, const ProductEntry& p, const json& params, const ConfigLinks& links);
// ota.cpp: the device side of OTA. Inform and progress are stored by the writer (no answer exists in
// the protocol); thing.ota.firmware.get is answered with the pending package once the writer read it.
void HandleOtaInform(Context& c, const json& params, Work& out);
void HandleOtaProgress(Context& c, const json& params, Work& out);
void HandleOtaFirmwareGet(Context& c, const json& params, const ConfigLinks& links, Work& out);
// topology.cpp: thing.topo.add / delete / get and thing.sub.register from a gateway: a TopologyOp
// (the writer checks and applies it; replies::SetTopologyAnswer answers).
void HandleTopology(Context& c, const json& params, Work& out);
// user_topics.cpp: a message on the device's /{pk}/{dn}/user/... (known, enabled, admitted): stored.
HandleStatus HandleUserMessage(const InboundMessage& in, const DeviceEntry& device, Metrics& metrics,
                               Work& out);

}  // namespace iot::gateway::handler_detail

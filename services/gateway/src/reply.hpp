#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/alink/envelope.hpp"
#include "iot/alink/topic.hpp"
#include "iot/store/device_data.hpp"
#include "work.hpp"

// The one place that builds the gateway's answers to devices. A reply is planned by the handler
// (ForRequest, ForNtp), changed by the batch writer only through these functions (StorageFailed,
// AddDesiredValues: the store hands back data, never protocol), and serialised at publish (Payload).
namespace iot::gateway::replies {

// The reply to a device request on `topic`, sent to `reply_to` when set (raw products answer on
// up_raw_reply), else to the topic's reply topic; nullopt when the topic has none. An empty `method`
// is the topic's expected method; an empty `message` is the code's default message.
std::optional<Reply> ForRequest(const alink::Topic& topic, const std::optional<std::string>& reply_to,
                                std::string id, std::string method, int code, nlohmann::json data,
                                std::string message);

// NTP's answer (published as is); nullopt when the topic has no reply topic.
std::optional<Reply> ForNtp(const alink::Topic& topic, const alink::NtpRequest& request, TimeMs received_ms,
                            TimeMs now_ms);

// The device shadow's answer on /shadow/get/{pk}/{dn} (the shadow's own JSON, published as is);
// nullopt when the topic is not /shadow/update.
std::optional<Reply> ForShadow(const alink::Topic& topic, int code, std::string text);

// ShadowOp's outcome as the shadow's answer: the refusal, the document (get; 407 when it holds
// nothing) or the new version (update, delete).
void SetShadowAnswer(Reply& reply, const ShadowOp& op, const OpResult& result);

// thing.ota.firmware.get: the pending package as the reply's data, with a signed link to iot-api
// (the data stays {} when nothing is pending).
void SetOtaPackage(Reply& reply, const OtaFirmwareGetOp& op, const OpResult& result);
// TopologyOp's outcome (reference §2.17, §3.5): the refusal's code (6100, 401, 6402, 6619, 6400, 6401,
// 6288; 460 when the device is no gateway) naming the device, or the devices: added, removed or
// listed as [{"productKey","deviceName"}], registered as [{"iotId","productKey","deviceName",
// "deviceSecret"}].
void SetTopologyAnswer(Reply& reply, const TopologyOp& op, const OpResult& result);

// The message or its side effect could not be stored: 500 "storage failed" instead of what was
// planned (a raw device's reply is encoded again at publish).
void StorageFailed(Reply& reply);

// thing.property.desired.get: adds {"id":{"value":v,"version":n}} for each stored value the device
// asked for (all when `identifiers` is empty); cleared values are left out, like Alibaba.
void AddDesiredValues(Reply& reply, const std::vector<std::string>& identifiers,
                      const std::vector<store::DesiredProperty>& values);

// The reply's Alink JSON text.
std::string AlinkText(const Reply& reply);

// What is published: the raw bytes when set; else the Alink text, encoded by the reply's encoder
// when it has one (a raw device's reply the writer changed; when the script fails, the Alink JSON goes
// out so that the device still gets an answer).
std::string Payload(const Reply& reply);

}  // namespace iot::gateway::replies

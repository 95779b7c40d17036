#pragma once

// Alink result codes (reference §3). Shared by tsl (item-level codes), alink (request-level codes),
// the gateway (replies) and the API (problem details `errors[].code`).
namespace iot::codes {

inline constexpr int kSuccess = 200;
inline constexpr int kRequestError = 400;
inline constexpr int kSignatureInvalid = 401;  // auth / topo add / sub-device sign
inline constexpr int kTooManyRequests = 429;
inline constexpr int kParamError = 460;
inline constexpr int kSystemError = 500;

inline constexpr int kPropertyDefsUnavailable = 5159;  // no published model (weak/strict)
inline constexpr int kEventDefsUnavailable = 5160;
inline constexpr int kServiceDefsUnavailable = 5161;

inline constexpr int kDeviceNotFound = 6100;
inline constexpr int kDesiredTooMany = 6104;
inline constexpr int kTooManyProperties = 6106;
inline constexpr int kTopicParseFailed = 6203;
inline constexpr int kDeviceDisabled = 6204;
inline constexpr int kServiceNotFound = 6206;
inline constexpr int kNotJson = 6207;
inline constexpr int kDeviceDisabledDownlink = 6208;
inline constexpr int kProductNotFound = 6250;  // the topic's ProductKey names no product
inline constexpr int kMethodMismatch = 6300;
// A request the platform does not implement (a method or topic it has no handler for): Alibaba's
// "no method" code, which is what its devices get back; 6831 ("topic or method not defined") only
// appears in Alibaba's device log, never in a reply, so the platform answers 6300 (README, "No silence").
inline constexpr int kNotImplemented = 6300;
inline constexpr int kArrayFormat = 6301;
inline constexpr int kMissingInput = 6302;
inline constexpr int kParamNotExist = 6304;
inline constexpr int kBadInt = 6306;
inline constexpr int kBadFloat = 6307;
inline constexpr int kBadBool = 6308;
inline constexpr int kBadEnum = 6309;
inline constexpr int kBadText = 6310;
inline constexpr int kBadDate = 6311;
inline constexpr int kBadStruct = 6312;
inline constexpr int kValidationUnavailable = 6313;
inline constexpr int kPropertyNotFound = 6320;
inline constexpr int kBadDouble = 6322;
inline constexpr int kBadArray = 6324;
inline constexpr int kBadTime = 6326;
inline constexpr int kNotArray = 6328;
inline constexpr int kDownlinkSpecMismatch = 6332;

// Gateways and sub-devices (reference §3.5).
inline constexpr int kDynamicRegistrationOff = 6288;  // thing.sub.register: the product's switch is off
inline constexpr int kSubDeviceNameInvalid = 6280;    // thing.list.found: a name outside 4-32 characters
inline constexpr int kTopoTooMany = 6400;             // more than 1500 sub-devices in a topology
inline constexpr int kTopoNotExist = 6401;            // no such topological relation
inline constexpr int kTopoSelf = 6402;                // a gateway cannot add itself
inline constexpr int kTopoOtherGateway = 6619;        // bound to another gateway
inline constexpr int kSubDevicesOnlineTooMany = 428;  // combine.login: 1500 online through one gateway
inline constexpr int kSubDeviceNoSession = 520;       // not online, or online through another gateway
inline constexpr int kSubDeviceDisabled = 522;        // combine.login of a disabled sub-device
inline constexpr int kPackTooManySubDevices = 6357;   // pack post: more than 20 sub-devices
inline constexpr int kPackTooManyEvents = 6356;       // pack post: too many events
inline constexpr int kSubDeviceSignInvalid = 6287;    // combine.login with a bad sub-device sign
inline constexpr int kSignMethodNotSupported = 6292;  // signmethod other than hmacmd5/sha1/sha256

// RRPC (reference §2.8): the device's answer could not be used / came too late.
inline constexpr int kRrpcInvalidReply = 1904;

}  // namespace iot::codes

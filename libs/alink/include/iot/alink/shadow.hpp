#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

// The device shadow (reference §2.15a): not an Alink envelope but a JSON document of its own that
// devices change on /shadow/update/{pk}/{dn} and receive on /shadow/get/{pk}/{dn}, and operators read
// and change over REST. Pure: parsing (bounded), applying a change to a document, the answers' JSON.
namespace iot::alink::shadow {

inline constexpr std::size_t kMaxBytes = 16 * 1024;  // a request, and the stored state
inline constexpr std::size_t kMaxDepth = 5;          // levels of `reported` / `desired`, themselves included
inline constexpr std::size_t kMaxAttributes = 128;   // top-level attributes of `reported` / `desired`
inline constexpr double kRequestsPerSecond = 20;     // per device, on /shadow/update

// The codes of an error answer's payload.content.errorcode.
inline constexpr int kBadJson = 400;  // not JSON, not an object, too big, too deep, bad value
inline constexpr int kNoMethod = 401;
inline constexpr int kNoState = 402;
inline constexpr int kVersionNotNumber = 403;
inline constexpr int kNoReported = 404;  // update without reported or desired, delete without reported
inline constexpr int kReportedEmpty = 405;
inline constexpr int kInvalidMethod = 406;
inline constexpr int kEmptyShadow = 407;  // get of a shadow that holds nothing
inline constexpr int kTooManyAttributes = 408;
inline constexpr int kVersionConflict = 409;
inline constexpr int kTooManyRequests = 429;  // over kRequestsPerSecond (the platform's rate code)
inline constexpr int kServerError = 500;

struct Error {
  int code = kServerError;
  std::string message;
};

enum class Method { kUpdate, kGet, kDelete };

// One request. `reported` and `desired` are objects or the string "null" (clear all); absent = untouched.
struct Request {
  Method method = Method::kGet;
  std::optional<nlohmann::json> reported;
  std::optional<nlohmann::json> desired;
  std::optional<std::int64_t> version;  // absent: the stored version + 1; -1: reset to 0
};

// Parses a device's message: at most kMaxBytes, kMaxDepth levels below state.reported/desired.
// Returns the error to answer when it is not a usable request.
std::optional<Error> ParseRequest(std::string_view text, Request& out);

// The stored document. Metadata maps each top-level attribute to {"timestamp": seconds}.
struct Document {
  nlohmann::json reported = nlohmann::json::object();
  nlohmann::json desired = nlohmann::json::object();
  nlohmann::json reported_meta = nlohmann::json::object();
  nlohmann::json desired_meta = nlohmann::json::object();
  std::int64_t version = 0;
  std::int64_t timestamp = 0;  // seconds of the last change; 0 = never changed

  bool Empty() const { return reported.empty() && desired.empty(); }
};

// The document as stored (everything but the version, which is a column of its own) and back. Text
// that is not such a document reads as an empty one.
std::string StoreText(const Document& doc);
Document FromStore(std::string_view text, std::int64_t version);

// Applies an update or delete at `now_s`: checks the version (greater than the stored one, -1 resets,
// absent = next), merges (objects merged, arrays and scalars replaced, "null" removes), checks the
// limits. On error `doc` may be partly changed: use a copy.
std::optional<Error> Apply(Document& doc, const Request& request, std::int64_t now_s);

// Answers published on /shadow/get (`timestamp` in seconds):
//   {"method":"reply","payload":{"status":"success","version":N},"timestamp":T}          update/delete
//   {"method":"reply","payload":{"status":"error","content":{"errorcode":"409",
//    "errormessage":"..."}},"timestamp":T}
//   {"method":"reply"|"control","payload":{"status":"success","state":{..},"metadata":{..}},
//    "version":N,"timestamp":T}                                                          get / control
std::string SuccessText(std::int64_t version, std::int64_t now_s);
std::string ErrorText(const Error& error, std::int64_t now_s);
std::string DocumentText(const Document& doc, std::string_view method, std::int64_t now_s);

// The operators' view: {"state":{"reported":{..},"desired":{..}},"metadata":{"reported":{..},
// "desired":{..}},"timestamp":T,"version":N} (both sections always present).
nlohmann::json DocumentJson(const Document& doc);

// The depth of a JSON value: 0 for a scalar, 1 + the deepest member for an object or array.
std::size_t Depth(const nlohmann::json& value);

}  // namespace iot::alink::shadow

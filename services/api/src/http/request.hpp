#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/auth_types.hpp"
#include "http/body_stream.hpp"

namespace iot::api {

// A request as handlers see it: plain data, no sockets (the transport converts Beast's message).
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request-target as received, e.g. "/api/v1/products?limit=5"
  // Header fields with lower-case names, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Routes that stream their body (transport::IsStreamedBodyTarget: firmware uploads) get it here,
  // while it arrives, and `body` stays empty; null for every other request.
  std::shared_ptr<RequestBody> body_stream;
  std::string remote_address;
  std::string client_address;  // ClientAddress(): the peer's IP or, behind a trusted proxy, the client's
  bool operations = false;     // arrived on the operations listener (/metrics, /readyz without token)
  std::string request_id;

  // Filled by ParseTarget() before routing.
  std::string path;                               // percent-decoded, for logs and messages
  std::vector<std::string> segments;              // percent-decoded path segments
  std::multimap<std::string, std::string> query;  // percent-decoded query parameters

  // Filled by the router.
  std::string route;                                       // matched pattern, e.g. "/api/v1/products/{pk}"
  std::map<std::string, std::string, std::less<>> params;  // path parameters by name
  std::optional<Principal> principal;                      // set on routes that require a role

  // First header with this lower-case name, or empty.
  std::string_view Header(std::string_view lower_name) const;
  // Path parameter by name; the router guarantees the names of the matched pattern exist.
  const std::string& Param(std::string_view name) const;
  // First query value with this name, if any.
  std::optional<std::string_view> Query(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers, e.g. Allow, Location
  // A body too large for memory (downloads): `stream_length` bytes from `source`, piece by piece
  // (`body` is then ignored).
  std::shared_ptr<ResponseSource> source;
  std::uint64_t stream_length = 0;
};

// Completes a request. Copyable; may be called from any thread, exactly once: later calls are ignored.
// If every copy is destroyed without a call, a 500 problem is sent so the client is never left hanging.
class Respond {
 public:
  using Sink = std::function<void(Response&&)>;

  Respond() = default;
  explicit Respond(Sink sink);

  void operator()(Response&& response) const;
  // Wraps `sink`, e.g. to record metrics; the new Respond keeps the exactly-once guarantee.
  Respond Then(std::function<void(const Response&)> observer) const;
  bool Valid() const { return state_ != nullptr; }

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Splits `request.target` into path segments and query parameters, percent-decoding both. Returns an
// error message for targets that are not origin-form, contain NUL or control bytes after decoding, or
// have "." / ".." segments (never normalised: a client that sends them gets 400).
std::optional<std::string> ParseTarget(Request& request);

// Percent-decodes `text` ("+" stays "+" unless `plus_is_space`); nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space = false);

// Whether `address` (an IP) is one of `trusted_proxies`: IP addresses or networks in CIDR notation
// ("10.0.0.7", "172.16.0.0/12", "fd00::/8"). Addresses are compared as bytes, so "::ffff:10.0.0.7"
// is not "10.0.0.7".
bool IsTrustedProxy(std::string_view address, const std::vector<std::string>& trusted_proxies);
// Whether `entry` is a valid trusted-proxy entry (an IP address, or a network with a prefix length).
bool ValidProxyEntry(std::string_view entry);

// The address per-client limits use: the peer's IP (remote_address without the port) or, when the peer
// is a trusted proxy, the rightmost X-Forwarded-For entry that is not a trusted proxy itself.
std::string ClientAddress(const Request& request, const std::vector<std::string>& trusted_proxies);

// The target with values of `token` query parameters replaced by "REDACTED", for logs.
std::string RedactedTarget(std::string_view target);

}  // namespace iot::api

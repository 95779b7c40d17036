#pragma once

// Domain types shared by the repositories. Times are UTC epoch milliseconds (std::int64_t).
// JSON values are carried as JSON text (`*_json` fields) so headers need no nlohmann include.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iot::store {

using TimeMs = std::int64_t;

inline constexpr int kMaxPageLimit = 1000;
inline constexpr int kDefaultPageLimit = 50;

enum class Order { kAsc, kDesc };

// A page request for lists without a time range. `cursor` is the opaque string a previous page returned
// (the API base64-wraps it); empty = first page. limit 1..1000, otherwise kInvalid.
struct PageQuery {
  int limit = kDefaultPageLimit;
  std::string cursor;
};

// A page request for time-ranged lists: from inclusive, to exclusive (either may be absent).
struct TimeQuery {
  std::optional<TimeMs> from;
  std::optional<TimeMs> to;
  Order order = Order::kDesc;
  int limit = kDefaultPageLimit;
  std::string cursor;  // keyset (ts, id) of the last row of the previous page, opaque
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;  // absent on the last page
};

enum class Role { kAdmin, kOperator, kViewer };
enum class NodeType { kDevice, kGateway };
// Our own copy of the thing-model validation mode (stored as text: none|weak|strict).
enum class ValidationMode { kNone, kWeak, kStrict };
// How a product's devices talk: Alink JSON, or raw bytes converted by the product's script (alink|raw).
enum class DataFormat { kAlink, kRaw };
enum class DeviceStatus { kUnactive, kOnline, kOffline };
enum class CallType { kSync, kAsync };
enum class ServiceCallStatus { kQueued, kSent, kSucceeded, kFailed, kTimeout, kExpired, kRejected };

// Names as used in the database and in the REST API ("admin", "gateway", "strict", "online", ...).
std::string_view ToString(Role v);
std::string_view ToString(NodeType v);
std::string_view ToString(ValidationMode v);
std::string_view ToString(DataFormat v);
std::string_view ToString(DeviceStatus v);
std::string_view ToString(CallType v);
std::string_view ToString(ServiceCallStatus v);
std::string_view ToString(Order v);
// Parsers return false (and leave `out` alone) on an unknown name.
bool Parse(std::string_view text, Role& out);
bool Parse(std::string_view text, NodeType& out);
bool Parse(std::string_view text, ValidationMode& out);
bool Parse(std::string_view text, DataFormat& out);
bool Parse(std::string_view text, DeviceStatus& out);
bool Parse(std::string_view text, CallType& out);
bool Parse(std::string_view text, ServiceCallStatus& out);
bool Parse(std::string_view text, Order& out);

}  // namespace iot::store

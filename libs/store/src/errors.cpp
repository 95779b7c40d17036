#include "iot/store/errors.hpp"

#include <array>

#include "iot/common/error_category.hpp"
#include "iot/store/types.hpp"

namespace iot::store {
namespace {

template <class E, std::size_t N>
bool ParseName(std::string_view text, const std::array<std::string_view, N>& names, E& out) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) {
      out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}

constexpr std::array<std::string_view, 3> kRoles{"admin", "operator", "viewer"};
constexpr std::array<std::string_view, 2> kNodeTypes{"device", "gateway"};
constexpr std::array<std::string_view, 3> kModes{"none", "weak", "strict"};
constexpr std::array<std::string_view, 2> kDataFormats{"alink", "raw"};
constexpr std::array<std::string_view, 3> kStatuses{"unactive", "online", "offline"};
constexpr std::array<std::string_view, 2> kCallTypes{"sync", "async"};
constexpr std::array<std::string_view, 7> kCallStatuses{"queued",  "sent",    "succeeded", "failed",
                                                        "timeout", "expired", "rejected"};
constexpr std::array<std::string_view, 2> kOrders{"asc", "desc"};

}  // namespace

const boost::system::error_category& ErrorCategory() {
  static const TableCategory kCategory(
      "iot.store",
      std::array{std::pair{Errc::kOk, "success"}, std::pair{Errc::kNotFound, "not found"},
                 std::pair{Errc::kConflict, "conflict"}, std::pair{Errc::kInvalid, "invalid argument"},
                 std::pair{Errc::kUnavailable, "database unavailable"},
                 std::pair{Errc::kVersionMismatch, "version mismatch"},
                 std::pair{Errc::kInternal, "internal database error"}},
      "unknown store error");
  return kCategory;
}

std::string_view ToString(Role v) { return kRoles.at(static_cast<std::size_t>(v)); }
std::string_view ToString(NodeType v) { return kNodeTypes.at(static_cast<std::size_t>(v)); }
std::string_view ToString(ValidationMode v) { return kModes.at(static_cast<std::size_t>(v)); }
std::string_view ToString(DataFormat v) { return kDataFormats.at(static_cast<std::size_t>(v)); }
std::string_view ToString(DeviceStatus v) { return kStatuses.at(static_cast<std::size_t>(v)); }
std::string_view ToString(CallType v) { return kCallTypes.at(static_cast<std::size_t>(v)); }
std::string_view ToString(ServiceCallStatus v) { return kCallStatuses.at(static_cast<std::size_t>(v)); }
std::string_view ToString(Order v) { return kOrders.at(static_cast<std::size_t>(v)); }

bool Parse(std::string_view t, Role& out) { return ParseName(t, kRoles, out); }
bool Parse(std::string_view t, NodeType& out) { return ParseName(t, kNodeTypes, out); }
bool Parse(std::string_view t, ValidationMode& out) { return ParseName(t, kModes, out); }
bool Parse(std::string_view t, DataFormat& out) { return ParseName(t, kDataFormats, out); }
bool Parse(std::string_view t, DeviceStatus& out) { return ParseName(t, kStatuses, out); }
bool Parse(std::string_view t, CallType& out) { return ParseName(t, kCallTypes, out); }
bool Parse(std::string_view t, ServiceCallStatus& out) { return ParseName(t, kCallStatuses, out); }
bool Parse(std::string_view t, Order& out) { return ParseName(t, kOrders, out); }

}  // namespace iot::store

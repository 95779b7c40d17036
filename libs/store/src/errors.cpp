#include "iot/store/errors.hpp"

#include <array>

#include "iot/store/types.hpp"

namespace iot::store {
namespace {

class StoreCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "iot.store"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::kOk: return "success";
      case Errc::kNotFound: return "not found";
      case Errc::kConflict: return "conflict";
      case Errc::kInvalid: return "invalid argument";
      case Errc::kUnavailable: return "database unavailable";
      case Errc::kVersionMismatch: return "version mismatch";
      case Errc::kInternal: return "internal database error";
    }
    return "unknown store error";
  }
};

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
  static const StoreCategory kCategory;
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

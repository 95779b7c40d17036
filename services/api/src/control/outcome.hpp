#pragma once

// What device control answers, in its own terms: a stored call, or a ControlError. Nothing here knows
// HTTP; handlers/control.cpp turns a ControlError into the API's problem answer through the one
// error-to-status mapping (http/problem.cpp, FromErrorCode).

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

#include <boost/system/error_code.hpp>

#include "iot/store/device_data.hpp"

namespace iot::api {

// Why a command was refused or did not finish (besides the store's own errors, store::Errc).
enum class ControlErrc {
  kOk = 0,
  kInvalidParams = 1,   // params do not match the published model (problems lists each)
  kQueueFull = 2,       // the device's queue holds queue_limit commands: retry later
  kRawSync = 3,         // a synchronous service of a raw product (RRPC carries no raw bytes)
  kShuttingDown = 4,    // the service is stopping
  kBrokerDown = 5,      // the command could not be published: retry later
  kDbQueueFull = 6,     // the database pool's queue is full
  kDeviceTimeout = 7,   // a synchronous call got no answer in time
  kInternal = 8,        // anything else (logged where it happened)
  kDeviceOffline = 9,   // needs the device online (custom RRPC, a QoS 0 message): Alibaba's OFFLINE
  kBroadcastRate = 10,  // a product's broadcasts over their rate (Alibaba: one per second)
};

const boost::system::error_category& ControlErrorCategory();

inline boost::system::error_code make_error_code(ControlErrc e) {  // NOLINT: found by ADL
  return {static_cast<int>(e), ControlErrorCategory()};
}

// One parameter the model refuses. `identifier` empty: the params object as a whole.
struct ParamProblem {
  std::string identifier;
  int code = 0;  // Alink code (iot/common/codes.hpp)
  std::string message;
};

// A refused or failed command. Thrown by ControlService's calls, or handed to a sync call's callback.
struct ControlError : std::exception {
  ControlError(boost::system::error_code c, std::string d) : code(c), detail(std::move(d)) {}
  const char* what() const noexcept override { return detail.c_str(); }

  boost::system::error_code code;          // ControlErrc, or the store's error (store::Errc)
  std::string detail;                      // for people: what was refused and why
  std::vector<ParamProblem> problems;      // kInvalidParams
  std::optional<store::ServiceCall> call;  // the call's record as it stands, when one was stored
};

// How a synchronous call ended: its record (succeeded or failed: the device answered), or the error.
using SyncOutcome = std::variant<store::ServiceCall, ControlError>;
using SyncDone = std::function<void(SyncOutcome)>;

}  // namespace iot::api

namespace boost::system {
template <>
struct is_error_code_enum<iot::api::ControlErrc> : std::true_type {};
}  // namespace boost::system

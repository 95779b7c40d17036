#pragma once

#include <string>
#include <system_error>

#include <boost/system/error_code.hpp>

namespace iot::store {

// What a store call can fail with. pqxx exceptions never leave libs/store: they are mapped here.
enum class Errc {
  kOk = 0,
  kNotFound = 1,         // no such row (unknown key, revoked/expired token, ...)
  kConflict = 2,         // unique or foreign-key violation, or a state forbidding the change
  kInvalid = 3,          // bad argument or a CHECK/NOT NULL/data violation
  kUnavailable = 4,      // connection broken / server down / pool queue full: retry later (HTTP 503)
  kVersionMismatch = 5,  // optimistic version check failed; or the schema is newer than this binary
  kInternal = 6,         // anything else (bug, unexpected server error)
};

const boost::system::error_category& ErrorCategory();

inline boost::system::error_code make_error_code(Errc e) {  // NOLINT: found by ADL
  return {static_cast<int>(e), ErrorCategory()};
}

// True when `ec` belongs to the store category and equals `e`.
inline bool Is(const boost::system::error_code& ec, Errc e) { return ec == make_error_code(e); }

}  // namespace iot::store

namespace boost::system {
template <>
struct is_error_code_enum<iot::store::Errc> : std::true_type {};
}  // namespace boost::system

#pragma once

#include <boost/system/result.hpp>

namespace iot {

// Fallible library calls return Result<T>: a value or an error_code (STYLE.md §3.4).
template <class T>
using Result = boost::system::result<T>;

}  // namespace iot

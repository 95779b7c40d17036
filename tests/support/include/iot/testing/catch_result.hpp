#pragma once

// Lets Catch print iot::Result<T> (boost::system::result) in REQUIRE/CHECK: the error's message when
// it holds an error, "ok" otherwise (T need not be printable).
#include <string>

#include <boost/system/result.hpp>
#include <catch2/catch.hpp>

namespace Catch {
template <class T, class E>
struct StringMaker<boost::system::result<T, E>> {
  static std::string convert(const boost::system::result<T, E>& r) {
    return r.has_value() ? std::string("ok") : "error: " + r.error().message();
  }
};
}  // namespace Catch

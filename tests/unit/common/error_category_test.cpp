#include "iot/common/error_category.hpp"

#include <array>
#include <cstring>
#include <utility>

#include <boost/system/error_code.hpp>
#include <catch2/catch.hpp>

namespace {

enum class Sample { kFirst = 1, kSecond = 2, kUnlisted = 3 };

const boost::system::error_category& SampleCategory() {
  static const iot::TableCategory kCategory(
      "iot.sample", std::array{std::pair{Sample::kFirst, "first"}, std::pair{Sample::kSecond, "second"}},
      "unknown sample error");
  return kCategory;
}

}  // namespace

TEST_CASE("TableCategory: its name, the table's messages and the fallback", "[common][errors]") {
  const boost::system::error_code first(static_cast<int>(Sample::kFirst), SampleCategory());
  CHECK(std::strcmp(first.category().name(), "iot.sample") == 0);
  CHECK(first.message() == "first");
  CHECK(boost::system::error_code(2, SampleCategory()).message() == "second");
  CHECK(boost::system::error_code(static_cast<int>(Sample::kUnlisted), SampleCategory()).message() ==
        "unknown sample error");
  char buffer[8];
  CHECK(std::strcmp(SampleCategory().message(1, buffer, sizeof buffer), "first") == 0);
  // One instance: codes of the same category compare equal, of another category not.
  CHECK(first == boost::system::error_code(1, SampleCategory()));
  CHECK(first != boost::system::error_code(1, boost::system::generic_category()));
}

#include "filter.hpp"

namespace iot::broker {
namespace {

// Splits off the first level of `rest`; false when there are no levels left.
bool NextLevel(std::string_view& rest, bool& done, std::string_view& level) {
  if (done) {
    return false;
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) {
    level = rest;
    done = true;
  } else {
    level = rest.substr(0, slash);
    rest.remove_prefix(slash + 1);
  }
  return true;
}

}  // namespace

std::string_view StripSharePrefix(std::string_view filter) noexcept {
  constexpr std::string_view kShare = "$share/";
  if (filter.substr(0, kShare.size()) != kShare) {
    return filter;
  }
  filter.remove_prefix(kShare.size());
  const auto slash = filter.find('/');
  if (slash == 0 || slash == std::string_view::npos || slash + 1 >= filter.size()) {
    return {};
  }
  const auto group = filter.substr(0, slash);
  if (group.find_first_of("+#") != std::string_view::npos) {
    return {};
  }
  return filter.substr(slash + 1);
}

bool FilterCovers(std::string_view pattern, std::string_view filter) noexcept {
  if (filter.empty() || pattern.empty()) {
    return false;
  }
  bool pattern_done = false, filter_done = false;
  std::string_view p, f;
  while (true) {
    const bool has_p = NextLevel(pattern, pattern_done, p);
    const bool has_f = NextLevel(filter, filter_done, f);
    if (!has_p) {
      return !has_f;
    }
    if (p == "#") {
      return true;  // covers whatever remains, including nothing
    }
    if (!has_f) {
      return false;
    }
    if (f == "#") {
      return false;  // only `#` covers `#`
    }
    if (p == "+") {
      continue;
    }
    if (f == "+" || f != p) {
      return false;
    }
  }
}

}  // namespace iot::broker

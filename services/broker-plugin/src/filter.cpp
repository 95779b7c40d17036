#include "filter.hpp"

#include "iot/alink/topic.hpp"

namespace iot::broker {

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
  alink::TopicLevels pattern_levels(pattern);
  alink::TopicLevels filter_levels(filter);
  std::string_view p, f;
  while (true) {
    const bool has_p = pattern_levels.Next(p);
    const bool has_f = filter_levels.Next(f);
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

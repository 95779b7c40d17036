#pragma once

#include <string_view>

namespace iot::broker {

// MQTT topic-filter algebra for the service accounts' ACL.

// Strips a shared-subscription prefix `$share/<group>/`; returns the filter unchanged otherwise and
// an empty view when the prefix is malformed (no group, or nothing after it).
std::string_view StripSharePrefix(std::string_view filter) noexcept;

// True when every topic that `filter` can match is also matched by `pattern` (both MQTT filters;
// a concrete topic is a filter without wildcards). `+` in the pattern covers one level (also a `+`
// of the filter), a trailing `#` covers any remainder; a `#` in the filter is covered only by `#`.
bool FilterCovers(std::string_view pattern, std::string_view filter) noexcept;

}  // namespace iot::broker

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iot::api {

// Ordered: a higher role may do everything a lower one may.
enum class Role { kViewer = 0, kOperator = 1, kAdmin = 2 };

struct Principal {
  std::string name;  // the token's name, recorded in the audit log
  Role role = Role::kViewer;
  std::int64_t token_id = 0;                  // 0: not a stored token (static tokens in tests)
  std::optional<std::int64_t> expires_at_ms;  // when the token stops working (open streams close)
};

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view text);

}  // namespace iot::api

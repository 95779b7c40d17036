#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "http/request.hpp"

namespace iot::api {

enum class SortOrder { kAsc, kDesc };

inline constexpr int kDefaultListLimit = 50;
inline constexpr int kMaxListLimit = 1000;

// The list parameters of the contract: limit (default 50, 1..1000), opaque cursor, and for time-ranged
// lists from (inclusive) / to (exclusive) in epoch ms and order (default desc).
struct ListParams {
  int limit = kDefaultListLimit;
  std::optional<std::string> cursor;  // raw opaque text; decode with DecodeCursor
  std::optional<std::int64_t> from;
  std::optional<std::int64_t> to;
  SortOrder order = SortOrder::kDesc;
};

// Throws ApiError 400 listing every bad parameter. `time_ranged` enables from/to/order.
ListParams ParseListParams(const Request& request, bool time_ranged = false);

// Strict integer query parameter (whole value must be a base-10 int64); throws ApiError 400.
std::optional<std::int64_t> QueryInt(const Request& request, std::string_view name);

// Opaque cursors: base64url (no padding) of a compact JSON object {"k":kind,...fields}. Not a secret:
// the fields are only positions, always used as bound query parameters. DecodeCursor throws ApiError 400
// for anything malformed or issued by another list (`kind` mismatch).
std::string EncodeCursor(std::string_view kind, const nlohmann::json& fields);
nlohmann::json DecodeCursor(std::string_view kind, std::string_view cursor);

std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

// {"items":[...],"nextCursor":cursor|null} — the shape of every list response.
std::string ListBody(const nlohmann::json& items, const std::optional<std::string>& next_cursor);

}  // namespace iot::api

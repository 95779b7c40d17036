#include "http/query.hpp"

#include <charconv>
#include <nlohmann/json.hpp>

#include "http/problem.hpp"
#include "iot/common/json.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::optional<std::int64_t> ParseInt(std::string_view text) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

// Parses one integer parameter, recording a problem instead of throwing so all are reported.
std::optional<std::int64_t> IntParam(const Request& request, std::string_view name,
                                     std::vector<ErrorItem>& problems) {
  auto text = request.Query(name);
  if (!text) {
    return std::nullopt;
  }
  auto value = ParseInt(*text);
  if (!value) {
    problems.push_back({"", 0, "query parameter " + std::string(name) + " must be an integer"});
  }
  return value;
}

}  // namespace

std::optional<std::int64_t> QueryInt(const Request& request, std::string_view name) {
  std::vector<ErrorItem> problems;
  auto value = IntParam(request, name, problems);
  if (!problems.empty()) {
    std::string detail = problems.front().message;  // before the vector is moved (argument order)
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
  return value;
}

ListParams ParseListParams(const Request& request, bool time_ranged) {
  ListParams params;
  std::vector<ErrorItem> problems;
  if (auto limit = IntParam(request, "limit", problems)) {
    if (*limit < 1 || *limit > kMaxListLimit) {
      problems.push_back({"", 0, "query parameter limit must be between 1 and " +
                                     std::to_string(kMaxListLimit)});
    } else {
      params.limit = static_cast<int>(*limit);
    }
  }
  if (auto cursor = request.Query("cursor"); cursor && !cursor->empty()) {
    params.cursor = std::string(*cursor);
  }
  if (time_ranged) {
    params.from = IntParam(request, "from", problems);
    params.to = IntParam(request, "to", problems);
    if (params.from && params.to && *params.from > *params.to) {
      problems.push_back({"", 0, "query parameter from must not be after to"});
    }
    if (auto order = request.Query("order")) {
      if (*order == "asc") {
        params.order = SortOrder::kAsc;
      } else if (*order != "desc") {
        problems.push_back({"", 0, "query parameter order must be asc or desc"});
      }
    }
  }
  if (!problems.empty()) {
    std::string detail = problems.front().message;
    if (problems.size() > 1) {
      detail = std::to_string(problems.size()) + " invalid query parameters";
    }
    throw ApiError::BadRequest(std::move(detail), std::move(problems));
  }
  return params;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const auto index = kAlphabet.find(c);
    if (index == std::string_view::npos) {
      return std::nullopt;
    }
    buffer = (buffer << 6) | static_cast<unsigned>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return std::nullopt;
  }
  return out;
}

std::string EncodeCursor(std::string_view kind, const nlohmann::json& fields) {
  nlohmann::json object = fields.is_object() ? fields : nlohmann::json::object();
  object["k"] = kind;
  return Base64UrlEncode(object.dump());
}

nlohmann::json DecodeCursor(std::string_view kind, std::string_view cursor) {
  const ApiError invalid = ApiError::BadRequest("invalid cursor: pass back nextCursor unchanged");
  if (cursor.size() > 2048) {
    throw invalid;
  }
  auto bytes = Base64UrlDecode(cursor);
  if (!bytes) {
    throw invalid;
  }
  nlohmann::json object;
  if (ParseJson(*bytes, object) != JsonParseStatus::kOk || !object.is_object()) {
    throw invalid;
  }
  auto k = object.find("k");
  if (k == object.end() || !k->is_string() || k->get_ref<const std::string&>() != kind) {
    throw invalid;
  }
  object.erase("k");
  return object;
}

std::string ListBody(const nlohmann::json& items, const std::optional<std::string>& next_cursor) {
  nlohmann::json body = nlohmann::json::object();
  body["items"] = items.is_array() ? items : nlohmann::json::array();
  body["nextCursor"] = next_cursor ? nlohmann::json(*next_cursor) : nlohmann::json(nullptr);
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace iot::api

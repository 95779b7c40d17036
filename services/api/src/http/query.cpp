#include "http/query.hpp"

#include <charconv>
#include <limits>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "http/problem.hpp"
#include "iot/common/json.hpp"

namespace iot::api {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kStandardAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
      problems.push_back(
          {"", 0, "query parameter limit must be between 1 and " + std::to_string(kMaxListLimit)});
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

// base64url without padding (RFC 4648 §5) through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock, which speak
// the standard alphabet with padding: '+' '/' are mapped to '-' '_' and the padding is dropped on the way
// out, added back on the way in. OpenSSL's decoder is lenient (whitespace, '=' anywhere in the last
// group, non-zero leftover bits), so the input is checked here first: only the url alphabet, no
// padding, a length that is not 1 mod 4, and zero leftover bits (one encoding per byte string).
std::string Base64UrlEncode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& c : out) {
    if (c == '+') {
      c = '-';
    } else if (c == '/') {
      c = '_';
    }
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  const std::size_t tail = text.size() % 4;  // characters of the last, partial group
  if (tail == 1 || text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 2)) {
    return std::nullopt;
  }
  std::string standard;
  standard.reserve(text.size() + 2);
  for (const char c : text) {
    const auto index = kAlphabet.find(c);
    if (index == std::string_view::npos) {
      return std::nullopt;
    }
    standard.push_back(kStandardAlphabet[index]);
  }
  if (tail != 0) {
    // Leftover bits must be zero: the last character carries 4 (2 characters) or 2 (3) unused bits.
    const auto last = kAlphabet.find(text.back());
    if ((last & (tail == 2 ? 0x0fU : 0x03U)) != 0) {
      return std::nullopt;
    }
    standard.append(4 - tail, '=');
  }
  std::string out(standard.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(standard.data()),
                                static_cast<int>(standard.size()));
  if (n < 0) {
    return std::nullopt;
  }
  out.resize(static_cast<std::size_t>(n) - (tail == 0 ? 0 : 4 - tail));  // the padding decoded as zeros
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

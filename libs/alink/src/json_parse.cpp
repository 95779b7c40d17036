#include "json_parse.hpp"

#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"
#include "iot/common/json.hpp"

namespace iot::alink::detail {
using Json = nlohmann::json;

boost::system::error_code ParseJson(std::string_view text, std::size_t max_depth, Json& root,
                                    std::string_view capture_key, std::string* captured) noexcept {
  JsonParseOptions options;
  options.max_depth = max_depth;
  options.capture_key = capture_key;
  options.captured = captured;
  switch (iot::ParseJson(text, root, options)) {
    case JsonParseStatus::kOk: return {};
    case JsonParseStatus::kTooDeep: return Errc::kTooDeep;
    case JsonParseStatus::kMalformed: break;
  }
  return Errc::kNotJson;
}

void AppendJson(std::string& out, const Json& value) {
  if (value.is_object() && value.empty()) {
    out += "{}";  // the common reply `data`; skip the serializer
    return;
  }
  out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace iot::alink::detail

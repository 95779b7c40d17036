#include "json_parse.hpp"

#include <utility>
#include <vector>

#include "iot/alink/error.hpp"

namespace iot::alink::detail {
namespace {

using Json = nlohmann::json;

// A SAX handler that builds the DOM like nlohmann's own json_sax_dom_parser, plus a depth limit and
// the capture of one top-level number's text.
class DomBuilder {
 public:
  DomBuilder(Json& root, std::size_t max_depth, std::string_view capture_key, std::string* captured)
      : root_(root), max_depth_(max_depth), capture_key_(capture_key), captured_(captured) {}

  bool null() { return Put(nullptr); }
  bool boolean(bool v) { return Put(v); }
  bool number_integer(Json::number_integer_t v) {
    Capture([v] { return std::to_string(v); });
    return Put(v);
  }
  bool number_unsigned(Json::number_unsigned_t v) {
    Capture([v] { return std::to_string(v); });
    return Put(v);
  }
  bool number_float(Json::number_float_t v, const Json::string_t& text) {
    Capture([&text] { return text; });
    return Put(v);
  }
  bool string(Json::string_t& v) { return Put(std::move(v)); }
  bool binary(Json::binary_t& v) { return Put(std::move(v)); }

  bool start_object(std::size_t /*size*/) { return Open(Json::value_t::object); }
  bool start_array(std::size_t /*size*/) { return Open(Json::value_t::array); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }

  bool key(Json::string_t& k) {
    capture_armed_ = captured_ != nullptr && stack_.size() == 1 && k == capture_key_;
    pending_ = &(*stack_.back()->get_ptr<Json::object_t*>())[std::move(k)];
    return true;
  }

  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const Json::exception& /*ex*/) {
    return false;
  }

  bool too_deep() const { return too_deep_; }

 private:
  template <class F>
  void Capture(F&& text) {
    if (capture_armed_ && stack_.size() == 1) {
      *captured_ = text();
    }
  }

  template <class V>
  Json* Insert(V&& v) {
    if (stack_.empty()) {
      root_ = Json(std::forward<V>(v));
      return &root_;
    }
    Json* top = stack_.back();
    if (top->is_array()) {
      auto& array = *top->get_ptr<Json::array_t*>();
      array.emplace_back(std::forward<V>(v));
      return &array.back();
    }
    *pending_ = Json(std::forward<V>(v));
    return pending_;
  }

  template <class V>
  bool Put(V&& v) {
    Insert(std::forward<V>(v));
    return true;
  }

  bool Open(Json::value_t type) {
    if (stack_.size() >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    stack_.push_back(Insert(type));
    return true;
  }

  bool Close() {
    stack_.pop_back();
    return true;
  }

  Json& root_;
  std::size_t max_depth_;
  std::string_view capture_key_;
  std::string* captured_;
  std::vector<Json*> stack_;
  Json* pending_ = nullptr;
  bool capture_armed_ = false;
  bool too_deep_ = false;
};

}  // namespace

boost::system::error_code ParseJson(std::string_view text, std::size_t max_depth, Json& root,
                                    std::string_view capture_key, std::string* captured) noexcept {
  try {
    DomBuilder builder(root, max_depth, capture_key, captured);
    const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    if (builder.too_deep()) {
      return Errc::kTooDeep;
    }
    if (!ok) {
      return Errc::kNotJson;
    }
    return {};
  } catch (...) {  // only std::bad_alloc can get here; keep the no-throw promise
    return Errc::kNotJson;
  }
}

std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0x100U;
  };
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    const unsigned b = byte(k);
    return b >= lo && b <= hi;
  };
  const unsigned c = byte(0);
  if (c < 0x80) {
    return 1;
  }
  if (c >= 0xC2 && c <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned hi = c == 0xED ? 0x9F : 0xBF;  // no surrogates
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned hi = c == 0xF4 ? 0x8F : 0xBF;  // not above U+10FFFF
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

bool IsValidUtf8(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto n = Utf8SequenceLength(s, i);
    if (n == 0) {
      return false;
    }
    i += n;
  }
  return true;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const auto n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\f': out += 'f'; break;
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
        break;
    }
    ++i;
  }
  out += '"';
}

void AppendJson(std::string& out, const Json& value) {
  if (value.is_object() && value.empty()) {
    out += "{}";  // the common reply `data`; skip the serializer
    return;
  }
  out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace iot::alink::detail

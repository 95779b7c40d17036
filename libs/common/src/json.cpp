#include "iot/common/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "iot/common/hex.hpp"

namespace iot {
namespace {

using Json = nlohmann::json;

// A SAX handler that builds the DOM like nlohmann's own json_sax_dom_parser, plus the depth limit and
// the capture of one top-level number's text.
class DomBuilder {
 public:
  DomBuilder(Json& root, const JsonParseOptions& options) : root_(root), options_(options) {}

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
    capture_armed_ = options_.captured != nullptr && stack_.size() == 1 && k == options_.capture_key;
    pending_ = &(*stack_.back()->get_ptr<Json::object_t*>())[std::move(k)];
    return true;
  }

  bool parse_error(std::size_t position, const std::string& /*token*/, const Json::exception& ex) {
    if (options_.error_byte != nullptr) {
      *options_.error_byte = position;
    }
    if (options_.error_message != nullptr) {
      *options_.error_message = ex.what();
    }
    return false;
  }

  bool too_deep() const { return too_deep_; }

 private:
  template <class F>
  void Capture(F&& text) {
    if (capture_armed_ && stack_.size() == 1) {
      *options_.captured = text();
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
    if (stack_.size() >= options_.max_depth) {
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
  const JsonParseOptions& options_;
  std::vector<Json*> stack_;
  Json* pending_ = nullptr;
  bool capture_armed_ = false;
  bool too_deep_ = false;
};

// The hot path: a strict recursive-descent JSON reader that feeds the same DomBuilder as nlohmann's
// SAX parser, without nlohmann's per-byte input adapter, token copy and error-position bookkeeping
// (about half of a small post's parse). It accepts a subset of what nlohmann accepts and builds the
// same DOM (non-negative integers unsigned, negative ones signed, out-of-range integers as floats);
// whenever it is unsure (any error, a byte order mark, a float out of range, deep nesting) it gives up
// and ParseJson runs nlohmann's parser from the start, which then decides and words the error.
class FastReader {
 public:
  FastReader(std::string_view text, DomBuilder& builder)
      : p_(text.data()), end_(text.data() + text.size()), builder_(builder) {}

  bool Run() {
    SkipSpace();
    if (!Value(0)) {
      return false;
    }
    SkipSpace();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 256;  // deeper: nlohmann's non-recursive parser takes over

  void SkipSpace() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
  }

  bool Literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool Value(int depth) {
    if (p_ == end_) {
      return false;
    }
    switch (*p_) {
      case '{': return Object(depth);
      case '[': return Array(depth);
      case '"': {
        Json::string_t s;
        return String(s) && builder_.string(s);
      }
      case 't': return Literal("true") && builder_.boolean(true);
      case 'f': return Literal("false") && builder_.boolean(false);
      case 'n': return Literal("null") && builder_.null();
      default: return Number();
    }
  }

  bool Object(int depth) {
    if (depth >= kMaxDepth || !builder_.start_object(static_cast<std::size_t>(-1))) {
      return false;
    }
    ++p_;
    SkipSpace();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return builder_.end_object();
    }
    while (true) {
      if (p_ == end_ || *p_ != '"') {
        return false;
      }
      Json::string_t key;
      if (!String(key) || !builder_.key(key)) {
        return false;
      }
      SkipSpace();
      if (p_ == end_ || *p_ != ':') {
        return false;
      }
      ++p_;
      SkipSpace();
      if (!Value(depth + 1)) {
        return false;
      }
      SkipSpace();
      if (p_ == end_) {
        return false;
      }
      if (*p_ == '}') {
        ++p_;
        return builder_.end_object();
      }
      if (*p_ != ',') {
        return false;
      }
      ++p_;
      SkipSpace();
    }
  }

  bool Array(int depth) {
    if (depth >= kMaxDepth || !builder_.start_array(static_cast<std::size_t>(-1))) {
      return false;
    }
    ++p_;
    SkipSpace();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      return builder_.end_array();
    }
    while (true) {
      if (!Value(depth + 1)) {
        return false;
      }
      SkipSpace();
      if (p_ == end_) {
        return false;
      }
      if (*p_ == ']') {
        ++p_;
        return builder_.end_array();
      }
      if (*p_ != ',') {
        return false;
      }
      ++p_;
      SkipSpace();
    }
  }

  // Four hex digits after "\u"; -1 when malformed.
  int Hex4() {
    if (end_ - p_ < 4) {
      return -1;
    }
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = HexValue(p_[i]);
      if (d < 0) {
        return -1;
      }
      v = v * 16 + d;
    }
    p_ += 4;
    return v;
  }

  static void AppendUtf8(Json::string_t& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // A byte in [lo, hi] at p_ + offset.
  bool ByteIn(std::ptrdiff_t offset, unsigned lo, unsigned hi) const {
    if (end_ - p_ <= offset) {
      return false;
    }
    const auto b = static_cast<unsigned char>(p_[offset]);
    return b >= lo && b <= hi;
  }

  // Length of the well-formed UTF-8 sequence at p_ (RFC 3629, as nlohmann checks it); 0 when malformed.
  int Utf8Length() const {
    const auto b = static_cast<unsigned char>(*p_);
    if (b >= 0xC2 && b <= 0xDF) {
      return ByteIn(1, 0x80, 0xBF) ? 2 : 0;
    }
    if (b == 0xE0) {
      return ByteIn(1, 0xA0, 0xBF) && ByteIn(2, 0x80, 0xBF) ? 3 : 0;
    }
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
      return ByteIn(1, 0x80, 0xBF) && ByteIn(2, 0x80, 0xBF) ? 3 : 0;
    }
    if (b == 0xED) {
      return ByteIn(1, 0x80, 0x9F) && ByteIn(2, 0x80, 0xBF) ? 3 : 0;
    }
    if (b == 0xF0) {
      return ByteIn(1, 0x90, 0xBF) && ByteIn(2, 0x80, 0xBF) && ByteIn(3, 0x80, 0xBF) ? 4 : 0;
    }
    if (b >= 0xF1 && b <= 0xF3) {
      return ByteIn(1, 0x80, 0xBF) && ByteIn(2, 0x80, 0xBF) && ByteIn(3, 0x80, 0xBF) ? 4 : 0;
    }
    if (b == 0xF4) {
      return ByteIn(1, 0x80, 0x8F) && ByteIn(2, 0x80, 0xBF) && ByteIn(3, 0x80, 0xBF) ? 4 : 0;
    }
    return 0;
  }

  // At the opening quote; leaves p_ after the closing one.
  bool String(Json::string_t& out) {
    ++p_;
    while (true) {
      const char* run = p_;
      while (p_ != end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) {
          break;
        }
        ++p_;
      }
      out.append(run, p_);
      if (p_ == end_) {
        return false;
      }
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c >= 0x80) {
        const int n = Utf8Length();
        if (n == 0) {
          return false;
        }
        out.append(p_, p_ + n);
        p_ += n;
        continue;
      }
      // Backslash.
      ++p_;
      if (p_ == end_) {
        return false;
      }
      const char e = *p_++;
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          const int hi = Hex4();
          if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) {
            return false;
          }
          std::uint32_t cp = static_cast<std::uint32_t>(hi);
          if (hi >= 0xD800 && hi <= 0xDBFF) {
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
              return false;
            }
            p_ += 2;
            const int lo = Hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + static_cast<std::uint32_t>(lo - 0xDC00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default: return false;
      }
    }
  }

  static bool Digit(char c) { return c >= '0' && c <= '9'; }

  bool Number() {
    const char* start = p_;
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ == end_ || !Digit(*p_)) {
      return false;
    }
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && Digit(*p_)) {
        ++p_;
      }
    }
    bool integer = true;
    if (p_ != end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || !Digit(*p_)) {
        return false;
      }
      while (p_ != end_ && Digit(*p_)) {
        ++p_;
      }
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) {
        ++p_;
      }
      if (p_ == end_ || !Digit(*p_)) {
        return false;
      }
      while (p_ != end_ && Digit(*p_)) {
        ++p_;
      }
    }
    if (integer) {
      if (negative) {
        Json::number_integer_t v = 0;
        if (auto r = std::from_chars(start, p_, v); r.ec == std::errc() && r.ptr == p_) {
          return builder_.number_integer(v);
        }
      } else {
        Json::number_unsigned_t v = 0;
        if (auto r = std::from_chars(start, p_, v); r.ec == std::errc() && r.ptr == p_) {
          return builder_.number_unsigned(v);
        }
      }
      // Out of range: a float, as nlohmann makes it.
    }
    Json::number_float_t v = 0;
    auto r = std::from_chars(start, p_, v);
    if (r.ec != std::errc() || r.ptr != p_ || !std::isfinite(v)) {
      return false;  // overflow or underflow: nlohmann decides
    }
    Json::string_t text(start, p_);
    return builder_.number_float(v, text);
  }

  const char* p_;
  const char* end_;
  DomBuilder& builder_;
};

}  // namespace

JsonParseStatus ParseJson(std::string_view text, Json& root, const JsonParseOptions& options) noexcept {
  try {
    const std::string captured_before = options.captured != nullptr ? *options.captured : std::string();
    {
      DomBuilder builder(root, options);
      if (FastReader(text, builder).Run()) {
        return JsonParseStatus::kOk;
      }
    }
    // Not accepted by the fast reader: nlohmann's parser decides from the start (and words errors).
    root = Json();
    if (options.captured != nullptr) {
      *options.captured = captured_before;
    }
    DomBuilder builder(root, options);
    const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    if (builder.too_deep()) {
      root = Json();  // the partial document is never handed out
      return JsonParseStatus::kTooDeep;
    }
    if (!ok) {
      root = Json();
      return JsonParseStatus::kMalformed;
    }
    return JsonParseStatus::kOk;
  } catch (...) {  // only std::bad_alloc can get here; keep the no-throw promise
    return JsonParseStatus::kMalformed;
  }
}

std::string JsonTooDeepMessage(std::size_t max_depth) {
  return "JSON nested deeper than " + std::to_string(max_depth);
}

}  // namespace iot

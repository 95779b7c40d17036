#include "iot/common/json.hpp"

#include <utility>
#include <vector>


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

}  // namespace

JsonParseStatus ParseJson(std::string_view text, Json& root, const JsonParseOptions& options) noexcept {
  try {
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

#pragma once

// Private to libs/store: PostgreSQL array literals built in C++, for statements that take a batch as
// arrays and unnest them (one round trip for many rows).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace iot::store {

// PostgreSQL array literal of text elements: every element quoted, " and \ escaped.
class TextArray {
 public:
  void Add(std::string_view v) {
    out_.push_back(out_.empty() ? '{' : ',');
    out_.push_back('"');
    for (char c : v) {
      if (c == '"' || c == '\\') {
        out_.push_back('\\');
      }
      out_.push_back(c);
    }
    out_.push_back('"');
  }
  void Add(std::int64_t v) {
    out_.push_back(out_.empty() ? '{' : ',');
    out_ += std::to_string(v);
  }
  std::string Take() {
    if (out_.empty()) {
      return "{}";
    }
    out_.push_back('}');
    return std::move(out_);
  }

 private:
  std::string out_;
};

}  // namespace iot::store

// libFuzzer target: the filter expression language (libs/expr). Whatever the input, Parse must not
// crash, throw or recurse without bound; it returns exactly one of an expression or an error with an
// offset inside the text; an expression evaluates (against values derived from the input) without
// crashing, and parsing its own text again gives the same verdict.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/expr/expr.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const iot::expr::ParseResult result = iot::expr::Parse(text);
  if (result.ok() == result.error.has_value()) {
    std::abort();
  }
  if (!result.ok()) {
    if (result.error->offset > text.size() || result.error->message.empty()) {
      std::abort();
    }
    return 0;
  }
  const iot::expr::Expression& e = *result.expression;
  if (e.Text() != text) {
    std::abort();
  }
  // Values of every identifier it names, of each type in turn.
  const nlohmann::json kinds[] = {nlohmann::json(1.5),     nlohmann::json(0),
                                  nlohmann::json("x"),     nlohmann::json(true),
                                  nlohmann::json(nullptr), nlohmann::json::object({{"a", 1}})};
  for (const auto& kind : kinds) {
    nlohmann::json values = nlohmann::json::object();
    for (const auto& id : e.Identifiers()) {
      values[id] = kind;
    }
    const bool first = e.Matches(values);
    if (first != e.Matches(values)) {
      std::abort();  // deterministic
    }
  }
  (void)e.Matches(nlohmann::json::object());
  if (!iot::expr::Parse(e.Text()).ok()) {
    std::abort();
  }
  return 0;
}

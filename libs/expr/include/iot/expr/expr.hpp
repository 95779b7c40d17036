#pragma once

// Conditions on a device's values, e.g. `Temp > 40 && Humidity < 20`: the filters of forwarding rules
// (and of alarms). Pure: parsing and evaluation do no I/O and never throw.
//
// Grammar (whitespace between tokens is ignored):
//   expression := or
//   or         := and ( "||" and )*
//   and        := unary ( "&&" unary )*
//   unary      := "!" unary | comparison
//   comparison := operand ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) operand )?
//   operand    := number | string | "true" | "false" | path | "(" expression ")"
//   number     := "-"? digits ( "." digits )? ( ("e"|"E") ("+"|"-")? digits )?
//   string     := '"' ... '"' or "'" ... "'"  (escapes: \" \' \\ \n \t)
//   path       := identifier ( "." identifier )*      identifier := [A-Za-z_][A-Za-z0-9_:]*
// A path names a value (`Temp`), a struct member (`Position.Lat`) or a module's identifier
// (`fb1:Temp`).
//
// Evaluation is typed:
//   * numbers compare as numbers, strings as strings (byte order), booleans only with == and !=;
//     a boolean compared with a number counts as 1 or 0 (Alink sends bools as 0/1);
//   * a comparison whose sides have different types is false (== and != alike);
//   * an identifier the values do not hold (or whose value is null, an object or an array) is
//     *missing*: every comparison with a missing value is false; `!` negates as usual, so
//     `!(Temp > 40)` is true when Temp is missing;
//   * an operand used as a condition on its own (`PowerOn && Temp > 3`) is true when it is true, a
//     number other than 0 or a non-empty string.
// Limits: text at most Limits::max_length bytes, nesting (parentheses and `!`) at most
// Limits::max_depth; evaluation recursion is bounded by the same depth.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace iot::expr {

struct Limits {
  std::size_t max_length = 4096;
  int max_depth = 32;
};

// Why a text is no expression: where (byte offset, 0-based) and what.
struct ParseError {
  std::size_t offset = 0;
  std::string message;
  // "column 9: expected an operand after '&&'" (columns count from 1).
  std::string Describe() const;
};

// A parsed expression. Immutable, cheap to copy (shared), safe to evaluate from several threads.
class Expression {
 public:
  // The value of a top-level identifier, or nullptr when there is none.
  using Lookup = std::function<const nlohmann::json*(std::string_view identifier)>;

  bool Matches(const Lookup& lookup) const;
  // `values` is an object of identifier -> value ({"Temp": 41.5, "Position": {"Lat": 1}}).
  bool Matches(const nlohmann::json& values) const;

  // The text it was parsed from.
  const std::string& Text() const;
  // The top-level identifiers it reads, each once, in order of appearance (a caller can decode only
  // those values).
  const std::vector<std::string>& Identifiers() const;

  struct Program;  // the parsed tree (expr.cpp); only Parse makes one
  explicit Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}

 private:
  std::shared_ptr<const Program> program_;
};

struct ParseResult {
  std::optional<Expression> expression;  // set when the text parsed
  std::optional<ParseError> error;       // set otherwise
  bool ok() const { return expression.has_value(); }
};

ParseResult Parse(std::string_view text, const Limits& limits = {});

}  // namespace iot::expr

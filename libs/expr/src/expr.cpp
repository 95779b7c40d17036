#include "iot/expr/expr.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <variant>

namespace iot::expr {

// A value during evaluation: missing, or a boolean, number or string.
using Value = std::variant<std::monostate, bool, double, std::string>;

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };

struct Node {
  enum class Kind { kOr, kAnd, kNot, kCompare, kLiteral, kPath };
  Kind kind = Kind::kLiteral;
  Op op = Op::kEq;                    // kCompare
  std::vector<std::size_t> children;  // kOr, kAnd (2+), kNot (1), kCompare (2)
  Value literal;                      // kLiteral
  std::vector<std::string> path;      // kPath: identifier, then members
};

struct Expression::Program {
  std::string text;
  std::vector<Node> nodes;
  std::size_t root = 0;
  std::vector<std::string> identifiers;
};

std::string ParseError::Describe() const { return "column " + std::to_string(offset + 1) + ": " + message; }

namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9') || c == ':'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Parse failure inside the recursive descent (caught in Parse; never leaves the library).
struct Failure {
  std::size_t offset;
  std::string message;
};

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : text_(text), limits_(limits) {}

  std::size_t ParseAll(std::vector<Node>& nodes) {
    nodes_ = &nodes;
    SkipSpace();
    if (pos_ == text_.size()) {
      throw Failure{pos_, "empty expression"};
    }
    const std::size_t root = ParseOr(0);
    SkipSpace();
    if (pos_ != text_.size()) {
      throw Failure{pos_, "unexpected " + Describe(pos_) + " after a complete expression"};
    }
    return root;
  }

 private:
  std::string Describe(std::size_t at) const {
    if (at >= text_.size()) {
      return "end of text";
    }
    const char c = text_[at];
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return "character";
    }
    return std::string("'") + c + "'";
  }

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Take(std::string_view token) {
    SkipSpace();
    if (text_.substr(pos_, token.size()) == token) {
      pos_ += token.size();
      return true;
    }
    return false;
  }

  std::size_t Add(Node node) {
    nodes_->push_back(std::move(node));
    return nodes_->size() - 1;
  }

  void Enter(int depth) const {
    if (depth > limits_.max_depth) {
      throw Failure{pos_, "nested deeper than " + std::to_string(limits_.max_depth)};
    }
  }

  std::size_t ParseOr(int depth) {
    Enter(depth);
    std::size_t first = ParseAnd(depth);
    if (!Peek("||")) {
      return first;
    }
    Node node;
    node.kind = Node::Kind::kOr;
    node.children.push_back(first);
    while (Take("||")) {
      node.children.push_back(ParseAnd(depth));
    }
    return Add(std::move(node));
  }

  std::size_t ParseAnd(int depth) {
    std::size_t first = ParseUnary(depth);
    if (!Peek("&&")) {
      return first;
    }
    Node node;
    node.kind = Node::Kind::kAnd;
    node.children.push_back(first);
    while (Take("&&")) {
      node.children.push_back(ParseUnary(depth));
    }
    return Add(std::move(node));
  }

  bool Peek(std::string_view token) {
    SkipSpace();
    return text_.substr(pos_, token.size()) == token;
  }

  std::size_t ParseUnary(int depth) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '!' && !Peek("!=")) {
      ++pos_;
      Enter(depth + 1);
      Node node;
      node.kind = Node::Kind::kNot;
      node.children.push_back(ParseUnary(depth + 1));
      return Add(std::move(node));
    }
    return ParseComparison(depth);
  }

  std::optional<Op> TakeOperator() {
    SkipSpace();
    static constexpr std::pair<std::string_view, Op> kOps[] = {
        {"==", Op::kEq}, {"!=", Op::kNe}, {"<=", Op::kLe}, {">=", Op::kGe}, {"<", Op::kLt}, {">", Op::kGt}};
    for (const auto& [token, op] : kOps) {
      if (text_.substr(pos_, token.size()) == token) {
        pos_ += token.size();
        return op;
      }
    }
    if (pos_ < text_.size() && text_[pos_] == '=') {
      throw Failure{pos_, "'=' is no operator: write '==' to compare"};
    }
    return std::nullopt;
  }

  std::size_t ParseComparison(int depth) {
    const std::size_t left = ParseOperand(depth);
    SkipSpace();
    const std::size_t at = pos_;
    auto op = TakeOperator();
    if (!op) {
      return left;
    }
    const std::size_t right = ParseOperand(depth);
    SkipSpace();
    const std::size_t after = pos_;
    if (TakeOperator()) {
      throw Failure{after, "comparisons do not chain: join them with '&&' (after the one at column " +
                               std::to_string(at + 1) + ")"};
    }
    Node node;
    node.kind = Node::Kind::kCompare;
    node.op = *op;
    node.children = {left, right};
    return Add(std::move(node));
  }

  std::size_t ParseOperand(int depth) {
    SkipSpace();
    if (pos_ >= text_.size()) {
      throw Failure{pos_, "expected an operand, found the end of text"};
    }
    const char c = text_[pos_];
    if (c == '(') {
      ++pos_;
      Enter(depth + 1);
      const std::size_t inner = ParseOr(depth + 1);
      if (!Take(")")) {
        throw Failure{pos_, "expected ')', found " + Describe(pos_)};
      }
      return inner;
    }
    if (c == '"' || c == '\'') {
      return ParseString(c);
    }
    if (IsDigit(c) ||
        (c == '-' && pos_ + 1 < text_.size() && (IsDigit(text_[pos_ + 1]) || text_[pos_ + 1] == '.')) ||
        (c == '.' && pos_ + 1 < text_.size() && IsDigit(text_[pos_ + 1]))) {
      return ParseNumber();
    }
    if (IsIdentStart(c)) {
      return ParsePath();
    }
    if (c == '&' || c == '|' || c == '=' || c == '<' || c == '>' || c == ')') {
      throw Failure{pos_, "expected an operand before " + Describe(pos_)};
    }
    throw Failure{pos_, "unexpected " + Describe(pos_)};
  }

  std::size_t ParseString(char quote) {
    const std::size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) {
        throw Failure{start, "string not closed"};
      }
      const char c = text_[pos_++];
      if (c == quote) {
        break;
      }
      if (c == '\\') {
        if (pos_ >= text_.size()) {
          throw Failure{start, "string not closed"};
        }
        const char e = text_[pos_++];
        switch (e) {
          case '"':
          case '\'':
          case '\\': out.push_back(e); break;
          case 'n': out.push_back('\n'); break;
          case 't': out.push_back('\t'); break;
          default: throw Failure{pos_ - 2, "unknown escape in a string (use \\\" \\' \\\\ \\n \\t)"};
        }
        continue;
      }
      out.push_back(c);
    }
    Node node;
    node.kind = Node::Kind::kLiteral;
    node.literal = std::move(out);
    return Add(std::move(node));
  }

  std::size_t ParseNumber() {
    const std::size_t start = pos_;
    if (text_[pos_] == '-') {
      ++pos_;
    }
    bool digits = false;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) {
      ++pos_;
      digits = true;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      bool fraction = false;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) {
        ++pos_;
        fraction = true;
      }
      if (!fraction) {
        throw Failure{start, "a number needs digits after '.'"};
      }
      digits = true;
    }
    if (!digits) {
      throw Failure{start, "not a number"};
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) {
        ++pos_;
      }
      bool exponent = false;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) {
        ++pos_;
        exponent = true;
      }
      if (!exponent) {
        throw Failure{start, "a number's exponent needs digits"};
      }
    }
    if (pos_ < text_.size() && IsIdentChar(text_[pos_])) {
      throw Failure{start, "a number runs into a name: separate them"};
    }
    const std::string token(text_.substr(start, pos_ - start));
    char* end = nullptr;
    const double value = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size() || !std::isfinite(value)) {
      throw Failure{start, "number out of range"};
    }
    Node node;
    node.kind = Node::Kind::kLiteral;
    node.literal = value;
    return Add(std::move(node));
  }

  std::string TakeIdentifier() {
    const std::size_t start = pos_;
    if (pos_ >= text_.size() || !IsIdentStart(text_[pos_])) {
      throw Failure{pos_, "expected a name, found " + Describe(pos_)};
    }
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  std::size_t ParsePath() {
    std::string first = TakeIdentifier();
    if (first == "true" || first == "false") {
      Node node;
      node.kind = Node::Kind::kLiteral;
      node.literal = first == "true";
      return Add(std::move(node));
    }
    Node node;
    node.kind = Node::Kind::kPath;
    node.path.push_back(std::move(first));
    while (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      node.path.push_back(TakeIdentifier());
    }
    return Add(std::move(node));
  }

  std::string_view text_;
  const Limits& limits_;
  std::size_t pos_ = 0;
  std::vector<Node>* nodes_ = nullptr;
};

Value FromJson(const nlohmann::json* v) {
  if (v == nullptr) {
    return std::monostate{};
  }
  if (v->is_boolean()) {
    return v->get<bool>();
  }
  if (v->is_number()) {
    return v->get<double>();
  }
  if (v->is_string()) {
    return v->get<std::string>();
  }
  return std::monostate{};  // null, object, array: nothing to compare
}

template <class T>
bool Compare(Op op, const T& a, const T& b) {
  switch (op) {
    case Op::kEq: return a == b;
    case Op::kNe: return a != b;
    case Op::kLt: return a < b;
    case Op::kLe: return a <= b;
    case Op::kGt: return a > b;
    case Op::kGe: return a >= b;
  }
  return false;
}

bool CompareValues(Op op, const Value& a, const Value& b) {
  if (a.index() == 0 || b.index() == 0) {
    return false;  // missing
  }
  const auto* ab = std::get_if<bool>(&a);
  const auto* bb = std::get_if<bool>(&b);
  const auto* an = std::get_if<double>(&a);
  const auto* bn = std::get_if<double>(&b);
  if (ab && bb) {
    return (op == Op::kEq || op == Op::kNe) && Compare(op, *ab, *bb);
  }
  if ((ab && bn) || (an && bb)) {  // Alink bools are 0/1 numbers
    const double x = ab ? (*ab ? 1.0 : 0.0) : *an;
    const double y = bb ? (*bb ? 1.0 : 0.0) : *bn;
    return Compare(op, x, y);
  }
  if (an && bn) {
    return Compare(op, *an, *bn);
  }
  const auto* as = std::get_if<std::string>(&a);
  const auto* bs = std::get_if<std::string>(&b);
  if (as && bs) {
    return Compare(op, *as, *bs);
  }
  return false;  // different types
}

bool Truthy(const Value& v) {
  if (const auto* b = std::get_if<bool>(&v)) {
    return *b;
  }
  if (const auto* n = std::get_if<double>(&v)) {
    return *n != 0;
  }
  if (const auto* s = std::get_if<std::string>(&v)) {
    return !s->empty();
  }
  return false;
}

class Evaluator {
 public:
  Evaluator(const Expression::Program& program, const Expression::Lookup& lookup)
      : program_(program), lookup_(lookup) {}

  bool Condition(std::size_t index) const {
    const Node& node = program_.nodes[index];
    switch (node.kind) {
      case Node::Kind::kOr:
        return std::any_of(node.children.begin(), node.children.end(),
                           [this](std::size_t c) { return Condition(c); });
      case Node::Kind::kAnd:
        return std::all_of(node.children.begin(), node.children.end(),
                           [this](std::size_t c) { return Condition(c); });
      case Node::Kind::kNot: return !Condition(node.children[0]);
      case Node::Kind::kCompare:
        return CompareValues(node.op, Operand(node.children[0]), Operand(node.children[1]));
      case Node::Kind::kLiteral:
      case Node::Kind::kPath: return Truthy(Operand(index));
    }
    return false;
  }

 private:
  Value Operand(std::size_t index) const {
    const Node& node = program_.nodes[index];
    switch (node.kind) {
      case Node::Kind::kLiteral: return node.literal;
      case Node::Kind::kPath: {
        const nlohmann::json* v = lookup_(node.path.front());
        for (std::size_t i = 1; i < node.path.size() && v != nullptr; ++i) {
          if (!v->is_object()) {
            return std::monostate{};
          }
          auto it = v->find(node.path[i]);
          v = it == v->end() ? nullptr : &*it;
        }
        return FromJson(v);
      }
      default: return Condition(index);  // a parenthesised condition compared: its truth value
    }
  }

  const Expression::Program& program_;
  const Expression::Lookup& lookup_;
};

}  // namespace

bool Expression::Matches(const Lookup& lookup) const {
  return Evaluator(*program_, lookup).Condition(program_->root);
}

bool Expression::Matches(const nlohmann::json& values) const {
  return Matches([&values](std::string_view identifier) -> const nlohmann::json* {
    if (!values.is_object()) {
      return nullptr;
    }
    auto it = values.find(std::string(identifier));
    return it == values.end() ? nullptr : &*it;
  });
}

const std::string& Expression::Text() const { return program_->text; }

const std::vector<std::string>& Expression::Identifiers() const { return program_->identifiers; }

ParseResult Parse(std::string_view text, const Limits& limits) {
  ParseResult result;
  if (text.size() > limits.max_length) {
    result.error =
        ParseError{limits.max_length, "longer than " + std::to_string(limits.max_length) + " bytes"};
    return result;
  }
  auto program = std::make_shared<Expression::Program>();
  program->text = std::string(text);
  try {
    Parser parser(program->text, limits);
    program->root = parser.ParseAll(program->nodes);
  } catch (const Failure& failure) {
    result.error = ParseError{failure.offset, failure.message};
    return result;
  }
  for (const Node& node : program->nodes) {
    if (node.kind == Node::Kind::kPath && std::find(program->identifiers.begin(), program->identifiers.end(),
                                                    node.path.front()) == program->identifiers.end()) {
      program->identifiers.push_back(node.path.front());
    }
  }
  result.expression = Expression(std::move(program));
  return result;
}

}  // namespace iot::expr

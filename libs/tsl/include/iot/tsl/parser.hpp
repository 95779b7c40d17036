#pragma once

// Parsing and checking TSL documents (reference §1). Every problem is reported at once, each with
// an RFC 6901 JSON pointer into the document it was found in.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iot/tsl/thing_model.hpp"

namespace iot::tsl {

// Limits (reference §1.7, later column, plus guards against hostile documents).
inline constexpr std::size_t kMaxIdentifierLength = 50;
inline constexpr std::size_t kMaxFunctionBlockIdLength = 30;
inline constexpr std::size_t kMaxNameChars = 30;
inline constexpr std::size_t kMaxDescChars = 100;
inline constexpr std::size_t kMaxLabelChars = 20;
inline constexpr std::size_t kMaxStructMembers = 50;
inline constexpr std::size_t kMaxEnumItems = 100;
inline constexpr std::uint32_t kMaxTextLength = 10240;
inline constexpr std::uint32_t kMaxArraySize = 512;
inline constexpr std::size_t kMaxModules = 20;
inline constexpr std::size_t kMaxDocumentBytes = 8 * 1024 * 1024;
inline constexpr std::size_t kMaxDocumentDepth = 64;  // iot::kMaxJsonDepth; a valid TSL nests ~12
inline constexpr std::size_t kMaxProblems = 500;      // later ones are summarised in one line

struct Problem {
  std::string module;   // functionBlockId of the document, "" for the default module
  std::string pointer;  // RFC 6901, e.g. "/properties/3/dataType/specs/min"; "" = whole document
  std::string message;
};

struct ModuleResult {
  std::optional<Module> module;  // set only when problems is empty
  std::vector<Problem> problems;
  bool ok() const { return problems.empty(); }
};

struct ModelResult {
  std::optional<ThingModel> model;  // set only when problems is empty
  std::vector<Problem> problems;
  bool ok() const { return problems.empty(); }
};

// Parses one TSL document (default or custom module). Never throws. The text form also refuses
// documents above kMaxDocumentBytes before parsing and nesting deeper than kMaxDocumentDepth while
// parsing (iot::ParseJson).
ModuleResult ParseModule(std::string_view json_text);
// The same for an already parsed document (e.g. the body of a PUT request).
ModuleResult ParseModuleDocument(const nlohmann::json& document);

// Parses the default module and the custom modules and checks them together (module count,
// functionBlockId present and unique, one productKey). Never throws.
ModelResult ParseThingModel(std::string_view default_tsl,
                            const std::vector<std::string_view>& custom_tsls = {});
// The model-level checks alone, for modules parsed one by one (e.g. stored per module).
ModelResult BuildThingModel(Module default_module, std::vector<Module> custom_modules);

}  // namespace iot::tsl

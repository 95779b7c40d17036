// libFuzzer target: TSL parsing, checking and export. Whatever the input, parsing must not crash
// or throw, and a document that parses must export to text that parses to the same export.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "iot/tsl/export.hpp"
#include "iot/tsl/parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const iot::tsl::ModuleResult result = iot::tsl::ParseModule(text);
  if (!result.ok()) {
    if (result.problems.empty() || result.module.has_value()) {
      std::abort();
    }
    return 0;
  }
  const std::string exported = iot::tsl::ExportModuleText(*result.module);
  const iot::tsl::ModuleResult again = iot::tsl::ParseModule(exported);
  if (!again.ok()) {
    std::abort();  // an export must always be a valid TSL
  }
  if (iot::tsl::ExportModuleText(*again.module) != exported) {
    std::abort();  // round trip
  }
  // Index it as a model too (lookups, member ordering).
  const auto model = iot::tsl::BuildThingModel(std::move(*again.module), {});
  if (!result.module->function_block_id.empty() == model.ok()) {
    std::abort();
  }
  return 0;
}

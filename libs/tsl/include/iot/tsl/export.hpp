#pragma once

// Export back to Alibaba TSL JSON. The built-ins are always present: post.outputData = all
// properties, set.inputData = rw (and w) properties, get.inputData = identifiers, get.outputData =
// all properties. Export -> parse -> export is the identity.

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "iot/tsl/thing_model.hpp"

namespace iot::tsl {

nlohmann::json ExportModule(const Module& module);
nlohmann::json ExportDataType(const DataType& data_type);
// `indent` < 0 gives compact JSON. Non-UTF-8 bytes (only possible in hand-built modules) become
// U+FFFD.
std::string ExportModuleText(const Module& module, int indent = -1);

}  // namespace iot::tsl

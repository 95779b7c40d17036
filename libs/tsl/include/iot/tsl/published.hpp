#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "iot/tsl/thing_model.hpp"

namespace iot::tsl {

// Parses a product's published TSL as the store keeps it: a plain TSL document (default module), an
// array of module documents (default first), or an object of module documents keyed by
// functionBlockId ("" = default). Null (and `error` set) when it does not parse. Never throws.
std::shared_ptr<const ThingModel> ParsePublishedModel(std::string_view tsl_json,
                                                      std::string* error = nullptr);

}  // namespace iot::tsl

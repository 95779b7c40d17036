#pragma once

#include <string>
#include <string_view>

namespace iot::api {

// schemas/api/openapi.json as it was at build time (embedded: an installed iot-api needs no source tree).
std::string_view EmbeddedOpenApiDocument();

// The document iot-api serves at /api/v1/openapi.json: the file at `path` (IOT_OPENAPI_PATH) when one is
// given, else the embedded one. Throws std::runtime_error when the file cannot be read or is empty, or
// when the result is not a JSON object: the API never serves an empty or broken contract.
std::string LoadOpenApiDocument(const std::string& path);

}  // namespace iot::api

#include "openapi_document.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace iot::api {

std::string LoadOpenApiDocument(const std::string& path) {
  std::string text;
  std::string origin = "the embedded OpenAPI document";
  if (path.empty()) {
    text = EmbeddedOpenApiDocument();
  } else {
    origin = path;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in) {
      throw std::runtime_error("cannot read the OpenAPI document " + path + " (IOT_OPENAPI_PATH)");
    }
    text = std::move(body).str();
  }
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("openapi")) {
    throw std::runtime_error(origin + " is empty or not an OpenAPI document");
  }
  return text;
}

}  // namespace iot::api

#pragma once

// Fixture access for the tsl unit tests (tests/fixtures/tsl/).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "iot/tsl/parser.hpp"

namespace iot::tsl::test {

inline std::filesystem::path FixtureDir() {
  return std::filesystem::path(IOT_SOURCE_DIR) / "tests" / "fixtures" / "tsl";
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot open fixture " + path.string());
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// File names (not paths) of *.json in a fixture sub-folder, sorted.
inline std::vector<std::string> FixtureNames(const std::string& folder) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(FixtureDir() / folder)) {
    if (entry.path().extension() == ".json") {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string Fixture(const std::string& relative) { return ReadFile(FixtureDir() / relative); }

// The §1.6 reference example as a built model.
inline ThingModel ReferenceModel() {
  auto result = ParseThingModel(Fixture("valid/reference_example.json"));
  if (!result.ok()) {
    throw std::runtime_error("reference example does not parse");
  }
  return std::move(*result.model);
}

}  // namespace iot::tsl::test

#include "iot/tsl/published.hpp"

#include <vector>

#include <nlohmann/json.hpp>

#include "iot/common/json.hpp"
#include "iot/tsl/parser.hpp"

namespace iot::tsl {

std::shared_ptr<const tsl::ThingModel> ParsePublishedModel(std::string_view tsl_json, std::string* error) {
  auto fail = [&](std::string message) -> std::shared_ptr<const tsl::ThingModel> {
    if (error) {
      *error = std::move(message);
    }
    return nullptr;
  };
  if (tsl_json.empty()) {
    return fail("no published thing model");
  }
  nlohmann::json doc;
  if (ParseJson(tsl_json, doc) != JsonParseStatus::kOk) {
    return fail("published thing model is not JSON (or nests deeper than " + std::to_string(kMaxJsonDepth) +
                ")");
  }
  std::string default_text;
  std::vector<std::string> custom_texts;
  if (doc.is_array()) {
    for (std::size_t i = 0; i < doc.size(); ++i) {
      (i == 0 ? default_text : custom_texts.emplace_back()) = doc[i].dump();
    }
  } else if (doc.is_object() && !doc.contains("properties") && !doc.contains("events") &&
             !doc.contains("services") && !doc.contains("schema") && !doc.contains("profile") &&
             !doc.empty()) {
    for (auto it = doc.begin(); it != doc.end(); ++it) {
      if (it.key().empty()) {
        default_text = it.value().dump();
      } else {
        custom_texts.push_back(it.value().dump());
      }
    }
  } else {
    default_text = std::string(tsl_json);
  }
  std::vector<std::string_view> customs(custom_texts.begin(), custom_texts.end());
  tsl::ModelResult parsed = tsl::ParseThingModel(default_text, customs);
  if (!parsed.ok() || !parsed.model) {
    std::string message = "published thing model does not parse";
    if (!parsed.problems.empty()) {
      message += ": " + parsed.problems.front().pointer + " " + parsed.problems.front().message;
    }
    return fail(std::move(message));
  }
  return std::make_shared<const tsl::ThingModel>(std::move(*parsed.model));
}

}  // namespace iot::tsl

#pragma once

// Payload validation against a thing model (reference §4) in the product's mode.
//
// Reports borrow from the payload: Item::identifier, Item::value and Refusal::value point into the
// params JSON, so keep it alive while the report is used. Refusal strings are owned (refusals are
// rare; accepted items allocate nothing beyond the report's vector).
//
// Codes: the innermost failing type decides the item's code (a bad struct member of type int gives
// 6306, naming "Position.Sats"); 6304 unknown identifier or member; 6312 missing struct member
// (strict); 6324 array too long (strict); 6328 not an array; 6302 missing service input (strict);
// 6326 bad or future time; 6332 property set of a read-only property.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "iot/tsl/thing_model.hpp"

namespace iot::tsl {

// kNone: no TSL checks. kWeak (default): identifiers and data types, all the way down. kStrict:
// weak plus ranges, text length in bytes, enum membership, array size, all struct members present.
enum class Mode { kNone, kWeak, kStrict };
std::string_view ModeName(Mode mode);  // "none", "weak", "strict"
std::optional<Mode> ParseMode(std::string_view text);

inline constexpr std::size_t kMaxItemsPerPost = 200;  // 6106 / 6104 above this
inline constexpr std::int64_t kMaxFutureMs = 24LL * 60 * 60 * 1000;

struct Item {
  std::string_view identifier;            // as sent ("id" or "module:id"); for events the event id
  const nlohmann::json* value = nullptr;  // unwrapped value; for events the outputs object
  std::int64_t time_ms = 0;               // the item's time, or now_ms when it had none
};

struct Refusal {
  std::string identifier;
  int code = 0;         // Alink code (§3.4), e.g. 6306
  std::string message;  // e.g. "Position.Lat: 95 is above max 90"
  // What was sent, for forwarding failures (weak mode's checkFailedData): the unwrapped value
  // (null for a missing input) and its time.
  const nlohmann::json* value = nullptr;
  std::int64_t time_ms = 0;
};

struct Report {
  int code = 200;       // request level: 200, or 460 / 6106 / 6104 / 5159-5161 / 6206
  std::string message;  // request-level reason when code != 200
  std::vector<Item> accepted;
  std::vector<Refusal> refused;

  bool request_ok() const { return code == 200; }
  bool all_accepted() const { return code == 200 && refused.empty(); }
  void Clear();  // keeps capacity, for reuse on a hot path
};

// Validates messages for one product. Cheap to construct; holds no state besides its arguments.
// `model` may be null (no published model): everything is then refused with 5159/5160/5161,
// except in kNone mode. Every method has an overload that fills a caller-owned report so a hot
// loop can reuse its buffers.
class Validator {
 public:
  Validator(const ThingModel* model, Mode mode) : model_(model), mode_(mode) {}

  // thing.event.property.post params: {"id": value | {"value": v, "time": ms}, ...}.
  Report PropertyPost(const nlohmann::json& params, std::int64_t now_ms) const;
  void PropertyPost(const nlohmann::json& params, std::int64_t now_ms, Report& out) const;

  // thing.event.{id}.post params: {"value": {outputs}, "time": ms} or the flat outputs. One item:
  // accepted whole or refused whole, naming the failing member.
  Report EventPost(std::string_view event_id, const nlohmann::json& params, std::int64_t now_ms) const;
  void EventPost(std::string_view event_id, const nlohmann::json& params, std::int64_t now_ms,
                 Report& out) const;

  // Service call arguments (inputData) and the device's reply data (outputData); one item per
  // parameter. Unknown service: request-level 6206. Missing inputs in strict mode: 6302.
  Report ServiceInput(std::string_view service_id, const nlohmann::json& params, std::int64_t now_ms) const;
  Report ServiceOutput(std::string_view service_id, const nlohmann::json& data, std::int64_t now_ms) const;

  // thing.service.property.set params (plain form): always strict, rw/w properties only.
  Report PropertySet(const nlohmann::json& params, std::int64_t now_ms) const;

  // thing.property.desired.get params: ["id", ...]; delete params: {"id": {"version": n}?, ...}.
  Report DesiredGet(const nlohmann::json& params, std::int64_t now_ms) const;
  Report DesiredDelete(const nlohmann::json& params, std::int64_t now_ms) const;

 private:
  const ThingModel* model_;
  Mode mode_;
};

// Checks one value against a data type; nullopt when it passes. `path` names the value in the
// message ("Position" gives "Position.Lat: ..."). Never throws.
std::optional<Refusal> CheckValue(const DataType& data_type, const nlohmann::json& value, Mode mode,
                                  std::string_view path);

}  // namespace iot::tsl

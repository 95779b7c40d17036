#pragma once

// Values for simulated devices, drawn inside each thing-model type's specs (ranges, enum keys, text
// length, array size, struct members), and deliberately invalid ones (the wrong JSON type, which
// every validation mode but `none` refuses) for testing validation.

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "iot/tsl/thing_model.hpp"

namespace iot::devsim {

class ValueGenerator {
 public:
  explicit ValueGenerator(std::uint64_t seed = 1) : rng_(seed) {}

  nlohmann::json Valid(const tsl::DataType& type, std::int64_t now_ms);
  nlohmann::json Invalid(const tsl::DataType& type);
  // {"member": value} for a parameter list (event outputs, service outputs).
  nlohmann::json ValidParams(const tsl::ParamList& params, std::int64_t now_ms);

  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  std::size_t Index(std::size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

 private:
  std::mt19937_64 rng_;
};

// A sensor-like fleet (--workload sensor): a device reports the same properties each time, and a value
// moves little from one post to the next. Floats and doubles walk randomly (a step of up to 1/100 of their
// range a post, kept inside it, rounded to the decimals of the spec's step: 2 without one); ints move by
// one now and then (a post in five); enums and booleans change rarely (a post in fifty); texts stay what
// they were; dates are the post's time; structs and arrays are drawn like ValueGenerator's.
class SensorValues {
 public:
  explicit SensorValues(std::uint64_t seed = 1) : rng_(seed), random_(seed + 1) {}

  nlohmann::json Next(std::size_t device, const tsl::Property& property, std::int64_t now_ms);
  nlohmann::json Invalid(const tsl::DataType& type) { return random_.Invalid(type); }
  double Chance() { return Uniform(0, 1); }
  std::size_t Index(std::size_t n) { return random_.Index(n); }

 private:
  double Uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }

  std::mt19937_64 rng_;
  ValueGenerator random_;  // first values, and the types that do not walk
  std::map<std::pair<std::size_t, std::string>, nlohmann::json> last_;
};

}  // namespace iot::devsim

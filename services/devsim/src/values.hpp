#pragma once

// Values for simulated devices, drawn inside each thing-model type's specs (ranges, enum keys, text
// length, array size, struct members), and deliberately invalid ones (the wrong JSON type, which
// every validation mode but `none` refuses) for testing validation.

#include <cstdint>
#include <random>

#include <nlohmann/json_fwd.hpp>

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

}  // namespace iot::devsim

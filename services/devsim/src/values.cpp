#include "values.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

namespace iot::devsim {
namespace {

constexpr double kIntMin = std::numeric_limits<std::int32_t>::min();
constexpr double kIntMax = std::numeric_limits<std::int32_t>::max();

}  // namespace

nlohmann::json ValueGenerator::Valid(const tsl::DataType& type, std::int64_t now_ms) {
  switch (type.kind) {
    case tsl::DataKind::kInt: {
      const double lo = std::max(type.min_value.value_or(-1000), kIntMin);
      const double hi = std::min(type.max_value.value_or(1000), kIntMax);
      const auto a = static_cast<std::int64_t>(std::ceil(lo));
      const auto b = std::max(a, static_cast<std::int64_t>(std::floor(hi)));
      return std::uniform_int_distribution<std::int64_t>(a, b)(rng_);
    }
    case tsl::DataKind::kFloat:
    case tsl::DataKind::kDouble: {
      const double lo = type.min_value.value_or(-1000);
      const double hi = std::max(lo, type.max_value.value_or(1000));
      // Two decimals, kept inside [lo, hi] after rounding.
      double v = std::round(std::uniform_real_distribution<double>(lo, hi)(rng_) * 100) / 100;
      return std::clamp(v, lo, hi);
    }
    case tsl::DataKind::kText: {
      static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
      const std::size_t max = type.limit == 0 ? 16 : std::min<std::size_t>(type.limit, 16);
      std::string s(1 + Index(max), 'a');
      for (char& c : s) {
        c = kChars[Index(sizeof(kChars) - 1)];
      }
      return s;
    }
    case tsl::DataKind::kDate: return std::to_string(now_ms);
    case tsl::DataKind::kBool:
    case tsl::DataKind::kEnum:
      if (type.items.empty()) {
        return 0;
      }
      return type.items[Index(type.items.size())].key;
    case tsl::DataKind::kStruct: {
      nlohmann::json object = nlohmann::json::object();
      for (const tsl::Param& m : type.members) {
        object[m.identifier] = Valid(m.data_type, now_ms);
      }
      return object;
    }
    case tsl::DataKind::kArray: {
      nlohmann::json array = nlohmann::json::array();
      const std::size_t max = type.limit == 0 ? 4 : std::min<std::size_t>(type.limit, 4);
      const std::size_t n = 1 + Index(max);
      for (std::size_t i = 0; i < n && type.item; ++i) {
        array.push_back(Valid(*type.item, now_ms));
      }
      return array;
    }
  }
  return nullptr;
}

nlohmann::json ValueGenerator::Invalid(const tsl::DataType& type) {
  switch (type.kind) {
    case tsl::DataKind::kText:
    case tsl::DataKind::kDate: return 12345;  // a number where a string belongs
    case tsl::DataKind::kStruct:
    case tsl::DataKind::kArray: return 7;
    default: return "not-a-number";  // a string where a number belongs
  }
}

nlohmann::json ValueGenerator::ValidParams(const tsl::ParamList& params, std::int64_t now_ms) {
  nlohmann::json object = nlohmann::json::object();
  for (const tsl::Param& p : params.params) {
    object[p.identifier] = Valid(p.data_type, now_ms);
  }
  return object;
}

namespace {

// Decimals of a spec's step ("0.01" -> 2, "1" -> 0); 2 without one.
int Decimals(const std::optional<std::string>& step) {
  if (!step) {
    return 2;
  }
  const auto dot = step->find('.');
  return dot == std::string::npos ? 0 : static_cast<int>(std::min<std::size_t>(step->size() - dot - 1, 6));
}

}  // namespace

nlohmann::json SensorValues::Next(std::size_t device, const tsl::Property& property, std::int64_t now_ms) {
  const tsl::DataType& type = property.data_type;
  auto [it, first] = last_.try_emplace({device, property.identifier});
  nlohmann::json& value = it->second;
  if (first) {
    value = random_.Valid(type, now_ms);
    return value;
  }
  switch (type.kind) {
    case tsl::DataKind::kFloat:
    case tsl::DataKind::kDouble: {
      const double lo = type.min_value.value_or(-1000);
      const double hi = std::max(lo, type.max_value.value_or(1000));
      const double scale = std::pow(10.0, Decimals(type.step));
      double v = value.get<double>() + Uniform(-1, 1) * (hi - lo) / 100;
      v = std::round(std::clamp(v, lo, hi) * scale) / scale;
      value = std::clamp(v, lo, hi);
      break;
    }
    case tsl::DataKind::kInt:
      if (Uniform(0, 1) < 0.2) {
        const auto lo =
            static_cast<std::int64_t>(std::ceil(std::max(type.min_value.value_or(-1000), kIntMin)));
        const auto hi = std::max(
            lo, static_cast<std::int64_t>(std::floor(std::min(type.max_value.value_or(1000), kIntMax))));
        value = std::clamp<std::int64_t>(value.get<std::int64_t>() + (Uniform(0, 1) < 0.5 ? -1 : 1), lo, hi);
      }
      break;
    case tsl::DataKind::kBool:
    case tsl::DataKind::kEnum:
      if (Uniform(0, 1) < 0.02) {
        value = random_.Valid(type, now_ms);
      }
      break;
    case tsl::DataKind::kText: break;
    case tsl::DataKind::kDate:
    case tsl::DataKind::kStruct:
    case tsl::DataKind::kArray: value = random_.Valid(type, now_ms); break;
  }
  return value;
}

}  // namespace iot::devsim

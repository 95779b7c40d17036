#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include <boost/system/error_category.hpp>

namespace iot {

// A boost::system error category for an error enum, written once: the category's name and one message
// per value; a value not in the table gets `fallback`. Each library keeps one as a function-local static:
//
//   static const TableCategory kCategory("iot.store", std::array{std::pair{Errc::kNotFound, "not found"},
//                                                                ...}, "unknown store error");
template <class E, std::size_t N>
class TableCategory final : public boost::system::error_category {
 public:
  constexpr TableCategory(const char* name, std::array<std::pair<E, const char*>, N> messages,
                          const char* fallback) noexcept
      : name_(name), messages_(messages), fallback_(fallback) {}

  const char* name() const noexcept override { return name_; }
  std::string message(int ev) const override { return Text(ev); }
  // The allocation-free form (Boost calls it for error_code::what-style formatting): the table's text.
  const char* message(int ev, char* /*buffer*/, std::size_t /*len*/) const noexcept override {
    return Text(ev);
  }

 private:
  const char* Text(int ev) const noexcept {
    for (const auto& [value, text] : messages_) {
      if (static_cast<int>(value) == ev) {
        return text;
      }
    }
    return fallback_;
  }

  const char* name_;
  std::array<std::pair<E, const char*>, N> messages_;
  const char* fallback_;
};

}  // namespace iot

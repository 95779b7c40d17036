#include "iot/script/hex.hpp"

namespace iot::script {

std::optional<std::string> FromHex(std::string_view hex) {
  std::string digits;
  for (char ch : hex) {
    if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r' && ch != ':') {
      digits.push_back(ch);
    }
  }
  if (digits.rfind("0x", 0) == 0 || digits.rfind("0X", 0) == 0) {
    digits.erase(0, 2);
  }
  return iot::FromHex(digits);
}

}  // namespace iot::script

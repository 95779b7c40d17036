// CONNECT credentials: split the input into clientId / username / password at the first two NUL
// bytes (or thirds when there are none), then parse and verify. Must never crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "iot/alink/credentials.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace alink = iot::alink;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view parts[3];
  const auto a = input.find('\0');
  const auto b = a == std::string_view::npos ? a : input.find('\0', a + 1);
  if (b != std::string_view::npos) {
    parts[0] = input.substr(0, a);
    parts[1] = input.substr(a + 1, b - a - 1);
    parts[2] = input.substr(b + 1);
  } else {
    parts[0] = input.substr(0, size / 3);
    parts[1] = input.substr(size / 3, size / 3);
    parts[2] = input.substr(2 * (size / 3));
  }
  if (auto creds = alink::ParseConnect(parts[0], parts[1])) {
    if (creds->client_id.empty() || creds->product_key.empty() || creds->device_name.empty()) {
      std::abort();
    }
    (void)alink::VerifyPassword(*creds, "0123456789abcdef0123456789abcdef", parts[2]);
    // A password we compute ourselves must always verify.
    const auto password = alink::Sign(creds->sign_method, "secret",
                                      alink::SignContent(creds->client_id, creds->device_name,
                                                         creds->product_key, creds->timestamp.value_or("")));
    if (!alink::VerifyPassword(*creds, "secret", password)) {
      std::abort();
    }
  }
  (void)alink::ParseSignMethod(parts[0]);
  return 0;
}

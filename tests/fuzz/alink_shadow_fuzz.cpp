// Device shadow: any device message parses or is refused with a shadow code, never crashes; what
// parses applies to a document within the limits, and the stored document reads back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/alink/shadow.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace shadow = iot::alink::shadow;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  shadow::Request request;
  if (auto refused = shadow::ParseRequest(input, request)) {
    if (refused->code < 400 || refused->code > 409) {
      std::abort();
    }
    return 0;
  }
  shadow::Document doc;
  doc.reported = {{"kept", 1}};
  doc.version = 1;
  if (!shadow::Apply(doc, request, 1700000000)) {
    const std::string stored = shadow::StoreText(doc);
    if (stored.size() > shadow::kMaxBytes || doc.reported.size() > shadow::kMaxAttributes) {
      std::abort();
    }
    const shadow::Document back = shadow::FromStore(stored, doc.version);
    if (shadow::StoreText(back) != stored) {
      std::abort();
    }
  }
  (void)shadow::DocumentText(doc, "reply", 1700000000);
  return 0;
}

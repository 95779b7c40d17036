// Topic grammar: parse never crashes; whatever parses formats back byte for byte and reparses to the
// same value; the ACL check never crashes and never grants a filter with wildcards above the device.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "iot/alink/topic.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  namespace alink = iot::alink;
  if (auto topic = alink::ParseTopic(input)) {
    const std::string formatted = alink::FormatTopic(*topic);
    if (formatted != input) {
      std::abort();
    }
    auto again = alink::ParseTopic(formatted);
    if (!again || !(*again == *topic)) {
      std::abort();
    }
    (void)alink::ExpectedMethod(*topic);
    (void)alink::CheckMethod(*topic, "thing.event.property.post");
    (void)alink::IsDevicePublished(*topic);
    if (auto reply = alink::ReplyTopicFor(*topic)) {
      (void)alink::ParseTopic(alink::FormatTopic(*reply));
    }
    // A parsed device topic belongs to its own device (user, sys, ntp, session, error, shadow, ota).
    const bool owned = !topic->product_key.empty() && topic->kind != alink::TopicKind::kMqttStatus &&
                       topic->kind != alink::TopicKind::kExtRrpc;
    if (owned && !alink::TopicBelongsToDevice(input, topic->product_key, topic->device_name)) {
      std::abort();
    }
  }
  // ACL on arbitrary filters for a fixed device: never crashes; '#'-only or '$' filters never pass.
  const bool allowed = alink::TopicBelongsToDevice(input, "a1b2c3d4e5f", "dev01");
  if (allowed && (input.empty() || input.front() != '/' || input == "/#")) {
    std::abort();
  }
  return 0;
}

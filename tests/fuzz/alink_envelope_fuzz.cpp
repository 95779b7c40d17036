// Envelope codecs: request, reply, NTP and lifecycle status decoding never crash; what decodes
// re-encodes into valid JSON that decodes to the same id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iot/alink/envelope.hpp"
#include "iot/alink/status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace alink = iot::alink;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto req = alink::DecodeRequest(input)) {
    const auto reply = alink::BuildReply(req->id, 200, req->method, *req->params, "success");
    auto back = alink::DecodeReply(reply);
    // Numbers may re-serialize longer (1e9 -> 1000000000.0), so only in-limit replies must decode.
    if (reply.size() <= alink::kMaxPayloadBytes && (!back || back->id != req->id || back->code != 200)) {
      std::abort();
    }
    const auto down = alink::BuildRequest(req->id, req->method, *req->params);
    auto again = alink::DecodeRequest(down);
    if (down.size() <= alink::kMaxPayloadBytes &&
        (!again || again->id != req->id || again->method != req->method)) {
      std::abort();
    }
  }
  (void)alink::DecodeReply(input);
  if (auto ntp = alink::DecodeNtpRequest(input)) {
    if (!nlohmann::json::accept(alink::BuildNtpResponse(*ntp, 1, 2))) {
      std::abort();
    }
  }
  if (auto status = alink::DecodeStatus(input)) {
    if (!alink::DecodeStatus(alink::EncodeStatus(*status))) {
      std::abort();
    }
  }
  return 0;
}

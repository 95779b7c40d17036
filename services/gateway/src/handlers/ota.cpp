#include "iot/alink/ota.hpp"

#include <string>
#include <utility>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"
#include "iot/common/safe_text.hpp"

// The device side of OTA (reference §2.16). Inform records the module's version (and completes the
// device's task when it is the task's target), progress moves the device's task (steps 1..100, or a
// failure -1..-4 with the device's desc), firmware get answers with the pending package and a signed,
// expiring link to iot-api (or {}). Inform and progress are device requests without a method
// (Handler::HandleRequest decodes, looks the device up and admits them like any other); their refusals
// are stored as rejections, the protocol has no reply for them. The upgrade push is iot-api's (its job
// driver).
namespace iot::gateway {
namespace handler_detail {

void HandleOtaInform(Context& c, const json& params, Work& out) {
  auto inform = alink::DecodeOtaInform(params);
  if (!inform) {
    return c.Fail(alink::AlinkCode(inform.error()),
                  "params must be {\"version\":\"...\",\"module\":\"...\"} (module optional, each at most 64 "
                  "characters)");
  }
  out.op = OtaInformOp{c.device_id, StorableText(inform->module), StorableText(inform->version), c.now()};
}

void HandleOtaProgress(Context& c, const json& params, Work& out) {
  auto progress = alink::DecodeOtaProgress(params);
  if (!progress) {
    return c.Fail(alink::AlinkCode(progress.error()),
                  "params must be {\"step\":\"1..100 or -1..-4\",\"desc\":\"...\",\"module\":\"...\"}");
  }
  out.op = OtaProgressOp{c.device_id, StorableText(progress->module), progress->step,
                         Truncate(progress->desc), c.now()};
}

void HandleOtaFirmwareGet(Context& c, const json& params, const ConfigLinks& links, Work& out) {
  auto module = alink::DecodeOtaFirmwareGet(params);
  if (!module) {
    return c.Fail(codes::kParamError, "params must be {\"module\":\"...\"} (module optional)");
  }
  // Answered with {} until the writer found the pending package (replies::SetOtaPackage).
  out.op = OtaFirmwareGetOp{c.device_id, StorableText(*module), links.key, links.base_url, c.now() / 1000};
  c.Answer(codes::kSuccess);
}

}  // namespace handler_detail
}  // namespace iot::gateway

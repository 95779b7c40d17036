#include "iot/alink/config.hpp"

#include <string>

#include "handlers/context.hpp"
#include "handlers/families.hpp"
#include "iot/alink/error.hpp"
#include "iot/common/codes.hpp"

// Remote configuration (thing.config.get, thing.config.push_reply): the product's switch and its
// current file's metadata come with the cached product (a new upload or a switch change notifies
// iot_product, which drops the entry), so a get costs no database round trip. The file itself is
// downloaded from iot-api through the signed, expiring link built here.
namespace iot::gateway {
namespace handler_detail {

void HandleConfigGet(Context& c, const ProductEntry& p, const json& params, const ConfigLinks& links) {
  if (auto ok = alink::CheckConfigGetParams(params); !ok) {
    return c.Fail(codes::kParamError, "params must be {\"configScope\":\"product\",\"getType\":\"file\"}");
  }
  if (!p.remote_config) {
    return c.Fail(alink::kConfigOffCode, "remote configuration is switched off for this product");
  }
  if (!p.config) {
    return c.Fail(alink::kConfigNotFoundCode, "the product has no configuration file");
  }
  alink::ConfigFile file;
  file.config_id = p.config->config_id;
  file.size = p.config->size;
  file.sign = p.config->sha256;
  file.url = alink::ConfigFileUrl(links.base_url, links.key, file.config_id, c.now() / 1000);
  c.Answer(codes::kSuccess, alink::ConfigData(file));
}

}  // namespace handler_detail

HandleStatus Handler::ConsumeConfigPushReply(const alink::Reply& reply) {
  metrics_.config_push_replies.Add(std::to_string(reply.code));
  return HandleStatus::kIgnore;
}

}  // namespace iot::gateway

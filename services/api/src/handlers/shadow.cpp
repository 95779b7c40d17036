// The device shadow for operators: Alibaba's GetDeviceShadow / UpdateDeviceShadow. The document and
// its rules (versions, "null" removal, limits) are libs/alink's (iot/alink/shadow.hpp), the same the
// gateway applies to what devices send; a desired change reaches an online device at once as
// "method":"control" on /shadow/get/{pk}/{dn}, an offline one when it next asks (get).
#include "iot/alink/shadow.hpp"

#include <optional>
#include <utility>

#include "control/mqtt_link.hpp"
#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "iot/store/devices.hpp"
#include "iot/store/shadow.hpp"

namespace iot::api {
namespace {

namespace shadow = alink::shadow;

const BodySchema& PutSchema() {
  static const BodySchema kSchema = [] {
    auto state = std::make_shared<BodySchema>();
    state->Required("desired", FieldType::kAny);
    BodySchema root;
    root.Required("state", FieldType::kObject, {.object = state})
        .Required("version", FieldType::kInteger, {.min = 0, .max = 9007199254740991.0});
    return root;
  }();
  return kSchema;
}

void GetShadow(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  RunOnDb(context.pool, respond, [pk, dn](store::Db& db) {
    store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
    store::ShadowRow row = Unwrap(store::GetShadow(db, device.id));
    return JsonOk(200, shadow::DocumentJson(shadow::FromStore(row.document_json, row.version)));
  });
}

void PutShadow(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  std::string dn = DeviceNameParam(request);
  nlohmann::json body = ParseJsonBody(request, PutSchema());
  shadow::Request change;
  change.method = shadow::Method::kUpdate;
  change.desired = body["state"]["desired"];
  change.version = body["version"].get<std::int64_t>();
  if (!change.desired->is_object() && *change.desired != "null") {
    throw ApiError::BadRequest("state.desired must be an object or \"null\"",
                               {{"/state/desired", shadow::kBadJson, "an object or \"null\""}});
  }
  Downlink* downlink = context.downlink;
  RunOnDb(
      context.pool, respond,
      [downlink, request = std::move(request), pk, dn, change = std::move(change)](store::Db& db) {
        store::Device device = Unwrap(store::GetDevice(db, pk, dn), "no such device: " + pk + "/" + dn);
        const std::int64_t now_s = NowMs() / 1000;
        std::optional<shadow::Error> refused;
        store::ShadowRow row = Unwrap(store::UpdateShadow(db, device.id, [&](const store::ShadowRow& stored) {
          shadow::Document doc = shadow::FromStore(stored.document_json, stored.version);
          refused = shadow::Apply(doc, change, now_s);
          return refused
                     ? std::nullopt
                     : std::optional<store::ShadowRow>(store::ShadowRow{shadow::StoreText(doc), doc.version});
        }));
        if (refused) {
          throw FromShadowError(refused->code, refused->message);
        }
        shadow::Document doc = shadow::FromStore(row.document_json, row.version);
        // An offline device (or a publish that fails) gets the document with its next get.
        bool pushed = false;
        if (downlink != nullptr && device.enabled && device.status == store::DeviceStatus::kOnline) {
          pushed = downlink->Publish("/shadow/get/" + pk + "/" + dn,
                                     shadow::DocumentText(doc, "control", now_s), 1);
        }
        Audit(db, request, "device.shadow.update", pk + "/" + dn,
              {{"version", doc.version}, {"desired", change.desired.value()}, {"pushed", pushed}});
        return JsonOk(200, shadow::DocumentJson(doc));
      });
}

const RouteSpec kRoutes[] = {
    {"GET", "/api/v1/products/{pk}/devices/{dn}/shadow", kViewer, GetShadow},
    {"PUT", "/api/v1/products/{pk}/devices/{dn}/shadow", kOperator, PutShadow},
};

}  // namespace

void AddShadowRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

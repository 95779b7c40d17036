// /api/v1/products/{pk}/config: a product's remote configuration file (upload a version, read the
// current one, list versions, push it to the online devices) and /api/v1/files/config/{configId}, the
// signed, expiring download link devices get in thing.config.get replies and pushes (no token).
#include "iot/store/product_config.hpp"

#include <optional>
#include <string>
#include <vector>

#include "control/mqtt_link.hpp"
#include "handlers/common.hpp"
#include "http/body_schema.hpp"
#include "http/url_problem.hpp"
#include "iot/alink/config.hpp"
#include "iot/common/signed_url.hpp"
#include "iot/store/products.hpp"

namespace iot::api {
namespace {

// A push reaches at most this many online devices (pages of kPushPage names); the answer says when
// more were online. Pushes go out at QoS 0: a device that misses one asks with thing.config.get.
constexpr int kPushPage = 1000;
constexpr int kMaxPushDevices = 100000;

nlohmann::json InfoJson(const store::ProductConfigInfo& info) {
  return {{"configId", info.config_id},  {"productKey", info.product_key}, {"version", info.version},
          {"size", info.size},           {"sha256", info.sha256},          {"createdAt", info.created_at},
          {"createdBy", info.created_by}};
}

std::string DownloadUrl(const HandlerContext& context, const std::string& key, const std::string& config_id) {
  return alink::ConfigFileUrl(context.public_base_url, key, config_id, NowMs() / 1000);
}

// The body is the file: any JSON document of at most 64 KB, stored byte for byte.
void PutConfig(HandlerContext& context, Request&& request, Respond respond) {
  store::DbPool& pool = context.pool;
  std::string pk = ProductKeyParam(request);
  if (request.body.size() > store::kMaxConfigBytes) {
    throw ApiError::PayloadTooLarge("a configuration file is at most 65536 bytes, this one has " +
                                    std::to_string(request.body.size()));
  }
  ParseJsonBody(request);  // 415 unless JSON, 400 with the position when malformed
  RunOnDb(pool, respond, [request = std::move(request), pk](store::Db& db) {
    const std::string actor = request.principal ? request.principal->name : "";
    store::ProductConfigInfo info =
        Unwrap(store::PutProductConfig(db, pk, request.body, actor), "no such product: " + pk);
    Audit(db, request, "product.config.update", pk,
          {{"configId", info.config_id}, {"version", info.version}, {"size", info.size}});
    return JsonOk(200, InfoJson(info));
  });
}

void GetConfig(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  RunOnDb(context.pool, respond, [&context, pk](store::Db& db) {
    store::Product product = Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
    auto current = Unwrap(store::GetCurrentProductConfig(db, pk), "no such product: " + pk);
    if (!current) {
      throw ApiError::NotFound("product " + pk + " has no configuration file yet");
    }
    nlohmann::json out = InfoJson(current->info);
    out["remoteConfig"] = product.remote_config;
    out["url"] = DownloadUrl(context, UrlSigningKey(context, db), current->info.config_id);
    out["content"] = JsonValue(current->content);
    return JsonOk(200, out);
  });
}

void ListVersions(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  RunOnDb(context.pool, respond, [pk](store::Db& db) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& info : Unwrap(store::ListProductConfigVersions(db, pk), "no such product: " + pk)) {
      items.push_back(InfoJson(info));
    }
    return JsonOk(200, {{"items", std::move(items)}});
  });
}

// thing.config.push to every online device of the product, from a DB pool thread (never the I/O
// thread), one push per product every 5 s (refused requests do not count).
void PushConfig(HandlerContext& context, Request&& request, Respond respond) {
  std::string pk = ProductKeyParam(request);
  if (context.downlink == nullptr) {
    throw ApiError::Unavailable("no broker is configured (IOT_MQTT_HOST): configurations cannot be pushed");
  }
  RunOnDb(context.pool, respond, [&context, request = std::move(request), pk](store::Db& db) {
    store::Product product = Unwrap(store::GetProduct(db, pk), "no such product: " + pk);
    if (!product.remote_config) {
      throw ApiError::Conflict("remote configuration is switched off for product " + pk +
                               ": set remoteConfig to true first");
    }
    auto current = Unwrap(store::GetCurrentProductConfig(db, pk), "no such product: " + pk);
    if (!current) {
      throw ApiError::NotFound("product " + pk + " has no configuration file to push");
    }
    Downlink& downlink = *context.downlink;
    if (!downlink.Connected()) {
      ApiError error = ApiError::Unavailable("the broker connection is down, retry later");
      error.headers.emplace_back("Retry-After", "1");
      throw error;
    }
    {
      std::lock_guard lock(context.remote_config->mutex);
      if (!context.remote_config->pushes.Allow(pk, NowMs())) {
        ApiError error = ApiError::TooManyRequests("one configuration push per product every 5 s");
        error.headers.emplace_back("Retry-After", "5");
        throw error;
      }
    }
    alink::ConfigFile file;
    file.config_id = current->info.config_id;
    file.size = current->info.size;
    file.sign = current->info.sha256;
    file.url = DownloadUrl(context, UrlSigningKey(context, db), file.config_id);
    // One id per push (a decimal that fits 32 bits: the C SDK reads ids as integers); the devices
    // answer on push_reply, which the gateway counts.
    const std::string payload = alink::BuildConfigPush(std::to_string(NowMs() % 1'000'000'000), file);
    int published = 0;
    int failed = 0;
    bool truncated = false;
    std::string after;
    while (true) {
      auto names = Unwrap(store::ListOnlineDeviceNames(db, pk, after, kPushPage));
      for (const auto& name : names) {
        if (published + failed == kMaxPushDevices) {
          truncated = true;
          break;
        }
        const std::string topic = "/sys/" + pk + "/" + name + "/thing/config/push";
        (downlink.Publish(topic, payload, 0) ? published : failed) += 1;
      }
      if (truncated || static_cast<int>(names.size()) < kPushPage) {
        break;
      }
      after = names.back();
    }
    nlohmann::json out = {{"configId", file.config_id},
                          {"version", current->info.version},
                          {"devices", published},
                          {"failed", failed},
                          {"truncated", truncated}};
    Audit(db, request, "product.config.push", pk, out);
    return JsonOk(202, out);
  });
}

// No token: the link's signature and expiry are the authorisation (403 bad signature, 410 expired).
void DownloadConfig(HandlerContext& context, Request&& request, Respond respond) {
  std::string config_id = request.Param("configId");
  std::string expires(request.Query("expires").value_or(""));
  std::string signature(request.Query("signature").value_or(""));
  std::optional<std::string> key = CachedUrlSigningKey(context);
  if (key) {  // known: a bad link is refused here, without taking a database worker
    UrlCheck check = VerifyUrl(*key, alink::ConfigFilePath(config_id), expires, signature, NowMs() / 1000);
    if (check != UrlCheck::kValid) {
      throw FromUrlCheck(check);
    }
  }
  RunOnDb(context.pool, respond, [&context, config_id, expires, signature](store::Db& db) {
    const std::string key = UrlSigningKey(context, db);
    UrlCheck check = VerifyUrl(key, alink::ConfigFilePath(config_id), expires, signature, NowMs() / 1000);
    if (check != UrlCheck::kValid) {
      throw FromUrlCheck(check);
    }
    store::ProductConfig config = Unwrap(store::GetProductConfigById(db, config_id),
                                         "configuration file " + config_id + " no longer exists");
    Response response;
    response.status = 200;
    response.content_type = "application/json";
    response.body = std::move(config.content);
    response.headers.emplace_back("Cache-Control", "private, no-store");
    return response;
  });
}

const RouteSpec kRoutes[] = {
    {"PUT", "/api/v1/products/{pk}/config", kAdmin, PutConfig},
    {"GET", "/api/v1/products/{pk}/config", kViewer, GetConfig},
    {"GET", "/api/v1/products/{pk}/config/versions", kViewer, ListVersions},
    {"POST", "/api/v1/products/{pk}/config:push", kOperator, PushConfig},
    {"GET", "/api/v1/files/config/{configId}", RouteOptions{.min_role = std::nullopt}, DownloadConfig},
};

}  // namespace

void AddProductConfigRoutes(Router& router, HandlerContext& context) { AddRoutes(router, context, kRoutes); }

}  // namespace iot::api

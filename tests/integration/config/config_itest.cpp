// Remote configuration (Alink §2.13) through the whole platform: the product switch and uploads over
// REST, thing.config.get answered by the gateway from its notified product cache, the file downloaded
// through iot-api's signed, expiring link without a token, and config:push to the online devices.

#include <future>
#include <map>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/alink/config.hpp"
#include "iot/common/signed_url.hpp"
#include "iot/device/device.hpp"
#include "iot/device/protocol.hpp"
#include "iot/store/product_config.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/mosquitto_process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;
using iot::gateway::itest::kPk;

namespace {

// Both services build links from the same public base URL; the tests send the link's path and query
// to the API's port.
constexpr const char* kBase = "http://iot.test";

struct ConfigStack {
  ConfigStack() {
    gateway = std::make_unique<iot::gateway::itest::GatewayProcess>(
        stack, "gw-config", std::map<std::string, std::string>{{"IOT_PUBLIC_BASE_URL", kBase}});
    REQUIRE(gateway->WaitConnected(10s));
    iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                                {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                                {"IOT_PUBLIC_BASE_URL", kBase}};
    api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }

  // A call under /api/v1/products/{kPk}; a string body is sent as is, a JSON one dumped.
  iot::testing::HttpResponse Call(const std::string& method, const std::string& path,
                                  const json& body = nullptr,
                                  const std::string& content_type = "application/json") {
    iot::testing::HttpHeaders headers = {
        {"Authorization", "Bearer " + std::string(iot::api::itest::kAdminToken)}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", content_type);
      text = body.is_string() ? body.get<std::string>() : body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1/products/" + std::string(kPk) + path,
                                     headers, text);
  }

  // A link as devices get it, fetched from the API without any token.
  iot::testing::HttpResponse Download(const std::string& url) {
    REQUIRE(url.rfind(kBase, 0) == 0);
    return iot::testing::HttpRequest(api->Port(), "GET", url.substr(std::string(kBase).size()));
  }

  std::string Status(const std::string& dn) {
    auto r = Call("GET", "/devices/" + dn);
    return r.status == 200 ? json::parse(r.body).value("status", "") : "http " + std::to_string(r.status);
  }

  iot::gateway::itest::Stack stack;
  std::unique_ptr<iot::gateway::itest::GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
};

std::string Topic(const std::string& dn, const std::string& suffix) {
  return "/sys/" + std::string(kPk) + "/" + dn + "/" + suffix;
}

// thing.config.get as the Node SDK sends it; the whole reply.
json ConfigGet(iot::testing::MqttTestClient& device, const std::string& dn, int id) {
  json request = {{"id", std::to_string(id)},
                  {"version", "1.0"},
                  {"params", {{"configScope", "product"}, {"getType", "file"}}},
                  {"method", "thing.config.get"}};
  auto reply = iot::gateway::itest::Request(device, Topic(dn, "thing/config/get"), request);
  REQUIRE(reply);
  return *reply;
}

// Asks until the reply has `code` (the gateway's product cache reloads on NOTIFY within a second).
json ConfigGetUntil(iot::testing::MqttTestClient& device, const std::string& dn, int code, int& id) {
  json last;
  iot::testing::PollUntil(
      [&] {
        last = ConfigGet(device, dn, ++id);
        return last["code"] == code;
      },
      10s, 100ms);
  return last;
}

std::string ReplaceQuery(const std::string& url, const std::string& name, const std::string& value) {
  const auto at = url.find(name + "=");
  REQUIRE(at != std::string::npos);
  const auto end = url.find('&', at);
  return url.substr(0, at) + name + "=" + value + (end == std::string::npos ? "" : url.substr(end));
}

}  // namespace

TEST_CASE("Remote config: switch, upload, thing.config.get, signed download and versions",
          "[integration][config]") {
  ConfigStack s;
  s.stack.AddDevice("cfg-0001");
  auto device = s.stack.Connect("cfg-0001");
  int id = 0;

  // Off by default: 6713, answered on get_reply with the id echoed.
  json off = ConfigGet(*device, "cfg-0001", ++id);
  CHECK(off["code"] == 6713);
  CHECK(off["id"] == std::to_string(id));
  CHECK(json::parse(s.Call("GET", "").body)["remoteConfig"] == false);

  // Switched on, nothing uploaded: 6710; the REST read is 404.
  auto patched = s.Call("PATCH", "", json{{"remoteConfig", true}});
  REQUIRE(patched.status == 200);
  CHECK(json::parse(patched.body)["remoteConfig"] == true);
  CHECK(ConfigGetUntil(*device, "cfg-0001", 6710, id)["code"] == 6710);
  CHECK(s.Call("GET", "/config").status == 404);

  // Upload: any JSON document, kept byte for byte (spacing and key order included).
  const std::string file =
      "{ \"interval\": 30,\n  \"servers\": [\"a\", \"b\"], \"name\": \"caf\xC3\xA9\" }\n";
  auto put = s.Call("PUT", "/config", file);
  REQUIRE(put.status == 200);
  json v1 = json::parse(put.body);
  CHECK(v1["version"] == 1);
  CHECK(v1["size"] == file.size());
  CHECK(v1["sha256"] == iot::Sha256Hex(file));
  CHECK(v1["configId"].get<std::string>().size() == 32);
  CHECK(v1["createdBy"] == "bootstrap-admin");

  // The device gets its id, size, sign and a link that downloads the exact bytes without a token.
  json got = ConfigGetUntil(*device, "cfg-0001", 200, id);
  REQUIRE(got["code"] == 200);
  CHECK(got["method"] == "thing.config.get");
  const json& data = got["data"];
  CHECK(data["configId"] == v1["configId"]);
  CHECK(data["configSize"] == file.size());
  CHECK(data["sign"] == iot::Sha256Hex(file));
  CHECK(data["signMethod"] == "Sha256");
  CHECK(data["getType"] == "file");
  const std::string url = data["url"].get<std::string>();
  CHECK(url.rfind(
            std::string(kBase) + "/api/v1/files/config/" + v1["configId"].get<std::string>() + "?expires=",
            0) == 0);
  auto downloaded = s.Download(url);
  REQUIRE(downloaded.status == 200);
  CHECK(downloaded.body == file);
  CHECK(downloaded.Header("content-type").rfind("application/json", 0) == 0);
  auto decoded = iot::alink::DecodeConfigData(data);
  REQUIRE(decoded.has_value());
  CHECK(iot::device::ConfigFileMatches(*decoded, downloaded.body));

  // Tampered links are refused (403), so is a correctly signed but expired one (410).
  std::string signature = url.substr(url.find("signature=") + 10);
  signature[0] = signature[0] == 'a' ? 'b' : 'a';
  CHECK(s.Download(ReplaceQuery(url, "signature", signature)).status == 403);
  const std::string expires = url.substr(url.find("expires=") + 8, url.find('&') - url.find("expires=") - 8);
  CHECK(s.Download(ReplaceQuery(url, "expires", std::to_string(std::stoll(expires) + 1))).status == 403);
  CHECK(s.Download(url.substr(0, url.find('&'))).status == 403);  // no signature
  const std::string other_id(32, 'f');
  CHECK(s.Download(std::string(kBase) + "/api/v1/files/config/" + other_id + url.substr(url.find('?')))
            .status == 403);  // a signature opens its own file only
  auto key = iot::store::EnsureUrlSigningKey(s.stack.Db(), iot::store::kDownloadKeyName);
  REQUIRE(key.has_value());
  const std::int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string path = iot::alink::ConfigFilePath(v1["configId"].get<std::string>());
  auto expired = s.Download(kBase + iot::SignedUrl("", path, *key, now_s - 10));
  CHECK(expired.status == 410);
  CHECK(s.Download(kBase + iot::SignedUrl("", path, *key, now_s + 60)).body == file);  // same key everywhere
  CHECK(
      s.Download(kBase + iot::SignedUrl("", iot::alink::ConfigFilePath(other_id), *key, now_s + 60)).status ==
      404);

  // The REST read: metadata, content, a working link.
  auto current = s.Call("GET", "/config");
  REQUIRE(current.status == 200);
  json doc = json::parse(current.body);
  CHECK(doc["configId"] == v1["configId"]);
  CHECK(doc["remoteConfig"] == true);
  CHECK(doc["content"] == json::parse(file));
  CHECK(s.Download(doc["url"].get<std::string>()).body == file);

  // A second upload is version 2 and what devices get next; both versions are listed.
  auto put2 = s.Call("PUT", "/config", json{{"interval", 60}});
  REQUIRE(put2.status == 200);
  json v2 = json::parse(put2.body);
  CHECK(v2["version"] == 2);
  CHECK(v2["configId"] != v1["configId"]);
  json got2;
  REQUIRE(iot::testing::PollUntil(
      [&] {
        got2 = ConfigGet(*device, "cfg-0001", ++id);
        return got2["code"] == 200 && got2["data"]["configId"] == v2["configId"];
      },
      10s, 100ms));
  CHECK(s.Download(got2["data"]["url"].get<std::string>()).body == R"({"interval":60})");
  auto versions = s.Call("GET", "/config/versions");
  REQUIRE(versions.status == 200);
  json items = json::parse(versions.body)["items"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["version"] == 2);
  CHECK(items[1]["version"] == 1);

  // Switched off again: 6713 even though a file exists.
  REQUIRE(s.Call("PATCH", "", json{{"remoteConfig", false}}).status == 200);
  CHECK(ConfigGetUntil(*device, "cfg-0001", 6713, id)["code"] == 6713);
}

TEST_CASE("Remote config: bad uploads and switch values get a clear 4xx", "[integration][config]") {
  ConfigStack s;
  auto not_json = s.Call("PUT", "/config", std::string("{\"interval\": 30"));
  CHECK(not_json.status == 400);
  CHECK(json::parse(not_json.body)["detail"].get<std::string>().find("malformed JSON") != std::string::npos);
  CHECK(s.Call("PUT", "/config", std::string("")).status == 400);
  CHECK(s.Call("PUT", "/config", std::string("{\"a\":1}"), "text/plain").status == 415);
  const std::string big = json{{"blob", std::string(70000, 'x')}}.dump();
  auto too_big = s.Call("PUT", "/config", big);
  CHECK(too_big.status == 413);
  const std::string limit = json{{"blob", std::string(65536 - 11, 'x')}}.dump();  // exactly 65536 bytes
  REQUIRE(limit.size() == 65536);
  CHECK(s.Call("PUT", "/config", limit).status == 200);
  CHECK(s.Call("PATCH", "", json{{"remoteConfig", "yes"}}).status == 400);
  CHECK(s.Call("PATCH", "", json{{"remoteConfig", 1}}).status == 400);
  auto unknown =
      iot::testing::HttpRequest(s.api->Port(), "PUT", "/api/v1/products/a1NoSuchProd/config",
                                {{"Authorization", "Bearer " + std::string(iot::api::itest::kAdminToken)},
                                 {"Content-Type", "application/json"}},
                                "{}");
  CHECK(unknown.status == 404);
  // Without a token nothing but the signed download route is open.
  CHECK(iot::testing::HttpRequest(s.api->Port(), "GET", "/api/v1/products/" + std::string(kPk) + "/config")
            .status == 401);
  CHECK(iot::testing::HttpRequest(s.api->Port(), "GET", "/api/v1/files/config/" + std::string(32, 'a'))
            .status == 403);
  // Any JSON document is a configuration file, an array too.
  CHECK(s.Call("PUT", "/config", std::string("[1,2,3]")).status == 200);
}

TEST_CASE("Remote config: config:push reaches the online devices, which answer on push_reply",
          "[integration][config]") {
  ConfigStack s;
  s.stack.AddDevice("cfg-push-1");
  s.stack.AddDevice("cfg-push-2");
  s.stack.AddDevice("cfg-push-3");  // stays offline

  // Nothing to push yet: switched off (409), then no file (404).
  CHECK(s.Call("POST", "/config:push").status == 409);
  REQUIRE(s.Call("PATCH", "", json{{"remoteConfig", true}}).status == 200);
  CHECK(s.Call("POST", "/config:push").status == 404);
  const std::string file = R"({"mode":"eco"})";
  auto put = s.Call("PUT", "/config", file);
  REQUIRE(put.status == 200);
  json v1 = json::parse(put.body);

  // One device is a plain MQTT client, the other the device SDK.
  auto raw = s.stack.Connect("cfg-push-1");
  iot::device::DeviceOptions o;
  o.broker_uri = s.stack.Broker().Uri();
  o.product_key = kPk;
  o.device_name = "cfg-push-2";
  o.device_secret = iot::gateway::itest::kSecret;
  iot::device::Device sdk(o);
  std::promise<json> pushed;
  auto pushed_future = pushed.get_future();
  sdk.OnConfigPush([&pushed](const iot::device::DownlinkRequest& r, iot::device::Responder reply) {
    pushed.set_value(r.params);
    reply.Ok();
  });
  REQUIRE(sdk.Connect(10s));
  REQUIRE(iot::testing::PollUntil(
      [&] { return s.Status("cfg-push-1") == "online" && s.Status("cfg-push-2") == "online"; }, 20s, 50ms));

  auto push = s.Call("POST", "/config:push");
  REQUIRE(push.status == 202);
  json answer = json::parse(push.body);
  CHECK(answer["configId"] == v1["configId"]);
  CHECK(answer["version"] == 1);
  CHECK(answer["devices"] == 2);
  CHECK(answer["failed"] == 0);
  CHECK(answer["truncated"] == false);
  CHECK(s.Call("POST", "/config:push").status == 429);  // at once again: rate limited

  auto m = raw->WaitMessage(Topic("cfg-push-1", "thing/config/push"), 10s);
  REQUIRE(m);
  json request = json::parse(m->payload);
  CHECK(request["method"] == "thing.config.push");
  CHECK(request["version"] == "1.0");
  CHECK(request["id"].is_string());
  const json& params = request["params"];
  CHECK(params["configId"] == v1["configId"]);
  CHECK(params["configSize"] == file.size());
  CHECK(params["sign"] == iot::Sha256Hex(file));
  CHECK(params["signMethod"] == "Sha256");
  CHECK(params["getType"] == "file");
  CHECK(s.Download(params["url"].get<std::string>()).body == file);
  REQUIRE(raw->Publish(Topic("cfg-push-1", "thing/config/push_reply"),
                       json{{"id", request["id"]}, {"code", 200}, {"data", json::object()}}.dump()));

  // The SDK device got the same fields, answered Ok(), and can fetch and check the file.
  REQUIRE(pushed_future.wait_for(10s) == std::future_status::ready);
  json sdk_params = pushed_future.get();
  CHECK(sdk_params == params);
  auto got = sdk.GetConfig();
  REQUIRE(got.code == 200);
  auto decoded = iot::alink::DecodeConfigData(got.data);
  REQUIRE(decoded.has_value());
  CHECK(iot::device::ConfigFileMatches(*decoded, s.Download(decoded->url).body));

  // Both answers reach the gateway and are counted; nothing waits for them.
  CHECK(iot::testing::PollUntil(
      [&] { return s.gateway->Metric("iot_gateway_config_push_replies_total{code=\"200\"}") >= 2; }, 10s,
      100ms));
  sdk.Stop();
}

// Raw products through the whole platform: REST (product with dataFormat raw, script, script:test) ->
// iot-api; a real MQTT device publishing bytes on thing/model/up_raw -> Mosquitto (plugin ACL) ->
// iot-gateway (rawDataToProtocol, validation, storage, protocolToRawData) -> up_raw_reply bytes;
// property sets going down as bytes on down_raw and their byte answers on down_raw_reply; hostile
// scripts (endless loop, unbounded allocation, throw, no method) answered with their codes while the
// gateway keeps serving other devices.

#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/api_process.hpp"
#include "gateway/gateway_stack.hpp"
#include "iot/testing/device_client.hpp"
#include "iot/testing/env.hpp"
#include "iot/testing/http_client.hpp"
#include "iot/testing/mosquitto_process.hpp"

using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

constexpr const char* kRawPk = "a1RawTest01";

// Alibaba's sample protocol: byte 0 the command (0x00 report, 0x01 set, 0x02 report reply, 0x03 set
// reply), a big-endian int32 id, then the values. Hostile behaviour is selected by the command byte.
const char* kScript = R"JS(
var COMMAND_REPORT = 0x00, COMMAND_SET = 0x01, COMMAND_REPORT_REPLY = 0x02, COMMAND_SET_REPLY = 0x03;
var hoard = [];
function rawDataToProtocol(bytes) {
  var u = new Uint8Array(bytes.length);
  for (var i = 0; i < bytes.length; i++) u[i] = bytes[i] & 0xff;
  var view = new DataView(u.buffer, 0);
  var head = u[0];
  if (head === COMMAND_REPORT) {
    return { method: 'thing.event.property.post', version: '1.0', id: '' + view.getInt32(1),
             params: { Temp: view.getInt16(5), Humidity: u[7] } };
  }
  if (head === COMMAND_SET_REPLY) {
    return { id: '' + view.getInt32(1), code: u[5] === 0 ? 200 : 460, data: {} };
  }
  if (head === 0x10) { while (true) {} }
  if (head === 0x11) { var s = 'x'; while (true) { s = s + s; hoard.push(s); } }
  if (head === 0x12) {
    var x = 1;
    throw new Error('unknown frame ' + head);
  }
  if (head === 0x13) { return { id: '1', params: { Temp: 1 } }; }
  return null;
}
function int32(v) { return [(v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]; }
function protocolToRawData(json) {
  if (json.method === 'thing.service.property.set') {
    return [COMMAND_SET].concat(int32(parseInt(json.id)), [json.params.PowerSwitch ? 1 : 0]);
  }
  return [COMMAND_REPORT_REPLY].concat(int32(parseInt(json.id)), [json.code === 200 ? 0 : 1]);
}
)JS";

const char* kModel = R"({"profile":{"productKey":"a1RawTest01"},"properties":[
  {"identifier":"Temp","name":"Temp","accessMode":"r","required":false,
   "dataType":{"type":"int","specs":{"min":"-40","max":"120","step":"1"}}},
  {"identifier":"Humidity","name":"Humidity","accessMode":"r","required":false,
   "dataType":{"type":"int","specs":{"min":"0","max":"100","step":"1"}}},
  {"identifier":"PowerSwitch","name":"PowerSwitch","accessMode":"rw","required":false,
   "dataType":{"type":"bool","specs":{"0":"off","1":"on"}}}]})";

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) {
    out.push_back(static_cast<char>(v));
  }
  return out;
}

std::string Report(int id, int temp, int humidity) {
  return Bytes({0x00, (id >> 24) & 0xff, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff, (temp >> 8) & 0xff,
                temp & 0xff, humidity});
}

struct RawStack {
  RawStack() {
    gateway = std::make_unique<iot::gateway::itest::GatewayProcess>(
        stack, "gw-raw",
        // The per-product budget keeps its default (250 ms of CPU per second): the hostile cases below cost
        // about 30 ms each at most (the CPU limit), so they get their own codes, not 26010. The budget has
        // its own test (unit_gateway "[budget]").
        std::map<std::string, std::string>{{"IOT_SCRIPT_CPU_MS", "30"}, {"IOT_SCRIPT_MEMORY_MB", "4"}});
    REQUIRE(gateway->WaitConnected(10s));
    iot::api::itest::Env env = {{"IOT_MQTT_HOST", "127.0.0.1"},
                                {"IOT_MQTT_PORT", std::to_string(stack.Broker().Port())},
                                {"IOT_MQTT_USERNAME", iot::testing::kApiUser},
                                {"IOT_MQTT_PASSWORD", iot::testing::kApiSecret},
                                {"IOT_ONLINE_GRACE_MS", "100"},
                                {"IOT_SCRIPT_CPU_MS", "30"}};
    api = std::make_unique<iot::api::itest::ApiProcess>(env, stack.Dsn());
    REQUIRE(iot::testing::PollUntil([&] { return api->Process().LogContains("MQTT connected"); }, 10s, 20ms));
  }

  iot::testing::HttpResponse Call(const std::string& method, const std::string& path,
                                  const json& body = nullptr) {
    iot::testing::HttpHeaders headers = {{"Authorization", "Bearer " + iot::api::itest::kAdminToken}};
    std::string text;
    if (!body.is_null()) {
      headers.emplace_back("Content-Type", "application/json");
      text = body.is_string() ? body.get<std::string>() : body.dump();
    }
    return iot::testing::HttpRequest(api->Port(), method, "/api/v1" + path, headers, text);
  }

  // The raw product with its model published and the script saved, all over REST.
  void CreateRawProduct() {
    auto r = Call(
        "POST", "/products",
        {{"name", "raw sensor"}, {"productKey", kRawPk}, {"dataFormat", "raw"}, {"validation", "strict"}});
    REQUIRE(r.status == 201);
    CHECK(json::parse(r.body)["dataFormat"] == "raw");
    REQUIRE(Call("PUT", std::string("/products/") + kRawPk + "/thing-model", json(kModel)).status == 200);
    REQUIRE(Call("POST", std::string("/products/") + kRawPk + "/thing-model/publish").status / 100 == 2);
    r = Call("PUT", std::string("/products/") + kRawPk + "/script", {{"script", kScript}});
    INFO(r.body);
    REQUIRE(r.status == 200);
  }

  // A registered raw device, connected and subscribed to its thing topics.
  std::unique_ptr<iot::testing::MqttTestClient> RawDevice(const std::string& dn) {
    auto r = Call("POST", std::string("/products/") + kRawPk + "/devices", {{"deviceName", dn}});
    REQUIRE(r.status == 201);
    iot::testing::DeviceConnect c;
    c.uri = stack.Broker().Uri();
    c.product_key = kRawPk;
    c.device_name = dn;
    c.device_secret = json::parse(r.body)["deviceSecret"];
    auto device = std::make_unique<iot::testing::MqttTestClient>();
    REQUIRE(iot::testing::PollUntil([&] { return device->ConnectDevice(c) == 0; }, 20s, 50ms));
    REQUIRE(device->Subscribe(std::string("/sys/") + kRawPk + "/" + dn + "/thing/#", 1) <= 1);
    return device;
  }

  // Publishes bytes on up_raw and waits for the bytes on up_raw_reply.
  std::optional<std::string> Post(iot::testing::MqttTestClient& device, const std::string& dn,
                                  const std::string& bytes) {
    const std::string topic = std::string("/sys/") + kRawPk + "/" + dn + "/thing/model/up_raw";
    if (!device.Publish(topic, bytes, 1)) {
      return std::nullopt;
    }
    auto reply = device.WaitMessage(topic + "_reply", 10s);
    if (!reply) {
      return std::nullopt;
    }
    return reply->payload;
  }

  json Rejections(const std::string& dn) {
    auto r = Call("GET", std::string("/products/") + kRawPk + "/devices/" + dn + "/rejections");
    REQUIRE(r.status == 200);
    return json::parse(r.body)["items"];
  }

  iot::gateway::itest::Stack stack;
  std::unique_ptr<iot::gateway::itest::GatewayProcess> gateway;
  std::unique_ptr<iot::api::itest::ApiProcess> api;
};

}  // namespace

TEST_CASE("Raw: a device's bytes become validated, stored properties and the reply goes back as bytes",
          "[integration][raw]") {
  RawStack s;
  s.CreateRawProduct();
  auto device = s.RawDevice("raw-0001");

  auto reply = s.Post(*device, "raw-0001", Report(7, -10, 55));
  REQUIRE(reply);
  CHECK(*reply == Bytes({0x02, 0, 0, 0, 7, 0}));  // report reply, id 7, code 200
  auto props =
      json::parse(s.Call("GET", std::string("/products/") + kRawPk + "/devices/raw-0001/properties").body);
  std::map<std::string, json> values;
  for (const auto& item : props["items"]) {
    values[item["identifier"]] = item["value"];
  }
  CHECK(values["Temp"] == -10);
  CHECK(values["Humidity"] == 55);

  // Validation applies as to any Alink post: Humidity 200 is out of range, refused and named.
  reply = s.Post(*device, "raw-0001", Report(8, 20, 200));
  REQUIRE(reply);
  CHECK(*reply == Bytes({0x02, 0, 0, 0, 8, 0}));  // the post is answered 200, the item refused (strict mode)
  json rejections = s.Rejections("raw-0001");
  REQUIRE_FALSE(rejections.empty());
  CHECK(rejections[0]["identifier"] == "Humidity");
  CHECK(rejections[0]["code"] == 6306);

  // The product reports its format; it cannot change.
  auto product = json::parse(s.Call("GET", std::string("/products/") + kRawPk).body);
  CHECK(product["dataFormat"] == "raw");
  CHECK(product["scriptUpdatedAt"].is_number());
  CHECK(s.Call("PATCH", std::string("/products/") + kRawPk, {{"dataFormat", "alink"}}).status == 400);
  CHECK(s.Call("GET", std::string("/products/") + kRawPk + "/script").status == 200);
  // An Alink product has no script.
  CHECK(s.Call("PUT", std::string("/products/") + iot::gateway::itest::kPk + "/script", {{"script", kScript}})
            .status == 409);
}

// The script carries the call's id in 4 bytes and reads it back signed (DataView.getInt32, like Alibaba's
// samples): iot-api's Alink ids stay below 2^31 so that it comes back unchanged.
TEST_CASE("Raw: a property set goes down as bytes and the device's byte answer completes it",
          "[integration][raw][raw-down]") {
  RawStack s;
  s.CreateRawProduct();
  auto device = s.RawDevice("raw-0002");
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto r = s.Call("GET", std::string("/products/") + kRawPk + "/devices/raw-0002");
        return json::parse(r.body).value("status", "") == "online";
      },
      20s, 20ms));
  std::this_thread::sleep_for(200ms);  // past IOT_ONLINE_GRACE_MS

  auto r = s.Call("POST", std::string("/products/") + kRawPk + "/devices/raw-0002/properties",
                  {{"params", {{"PowerSwitch", 1}}}});
  REQUIRE(r.status == 202);
  json call = json::parse(r.body);
  auto down = device->WaitMessage(std::string("/sys/") + kRawPk + "/raw-0002/thing/model/down_raw", 5s);
  REQUIRE(down);
  REQUIRE(down->payload.size() == 6);
  CHECK(down->payload[0] == 0x01);
  CHECK(down->payload[5] == 0x01);
  // The id in bytes 1-4 is the call's Alink id; the device echoes it in its answer.
  CHECK((static_cast<unsigned char>(down->payload[1]) & 0x80) == 0);
  REQUIRE(device->Publish(std::string("/sys/") + kRawPk + "/raw-0002/thing/model/down_raw_reply",
                          Bytes({0x03}) + down->payload.substr(1, 4) + Bytes({0x00}), 1));
  json done;
  REQUIRE(iot::testing::PollUntil(
      [&] {
        done = json::parse(s.Call("GET", std::string("/products/") + kRawPk +
                                             "/devices/raw-0002/service-calls/" +
                                             call["callId"].get<std::string>())
                               .body);
        return done["status"] == "succeeded";
      },
      5s, 20ms));
  CHECK(done["code"] == 200);
}

TEST_CASE("Raw: hostile scripts get their codes and the gateway keeps serving other devices",
          "[integration][raw]") {
  RawStack s;
  s.CreateRawProduct();
  auto raw = s.RawDevice("raw-0003");
  s.stack.AddDevice("alink-0001");
  auto alink = s.stack.Connect("alink-0001");
  const std::string post_topic =
      std::string("/sys/") + iot::gateway::itest::kPk + "/alink-0001/thing/event/property/post";
  int alink_id = 100;
  auto alink_post_ok = [&] {
    json message = {{"id", std::to_string(++alink_id)},
                    {"version", "1.0"},
                    {"method", "thing.event.property.post"},
                    {"params", json::object()}};
    auto reply = iot::gateway::itest::Request(*alink, post_topic, message);
    return reply && (*reply)["code"] == 200;
  };

  // Endless loop, unbounded allocation, a throw, no method: each answered (as Alink JSON: the script
  // cannot be trusted to encode its own failure) with its code; an Alink device is served meanwhile.
  struct Case {
    int command;
    int code;
    const char* text;
  };
  for (const Case& c : {Case{0x10, 26002, "CPU time limit"}, Case{0x11, 26002, "memory limit"},
                        Case{0x12, 26002, "unknown frame"}, Case{0x13, 6450, "no method"},
                        Case{0x20, 6201, "returned nothing"}}) {
    INFO(c.command);
    auto reply = s.Post(*raw, "raw-0003", Bytes({c.command, 1, 2, 3}));
    REQUIRE(reply);
    json answer = json::parse(*reply);
    CHECK(answer["code"] == c.code);
    CHECK(answer["message"].get<std::string>().find(c.text) != std::string::npos);
    CHECK(alink_post_ok());
  }
  // The throw names its line.
  bool found_line = false;
  for (const auto& item : s.Rejections("raw-0003")) {
    if (item["code"] == 26002 && item["message"].get<std::string>().find("line 20:") != std::string::npos) {
      found_line = true;
    }
  }
  CHECK(found_line);
  // The device still works after its script hit every limit (the heap was rebuilt).
  auto reply = s.Post(*raw, "raw-0003", Report(9, 21, 40));
  REQUIRE(reply);
  CHECK(*reply == Bytes({0x02, 0, 0, 0, 9, 0}));

  // A product whose script is replaced is served with the new one (NOTIFY reload).
  std::string updated = kScript;
  updated.replace(updated.find("Humidity: u[7]"), 14, "Humidity: u[7] + 1");
  REQUIRE(s.Call("PUT", std::string("/products/") + kRawPk + "/script", {{"script", updated}}).status == 200);
  REQUIRE(iot::testing::PollUntil(
      [&] {
        auto r = s.Post(*raw, "raw-0003", Report(10, 21, 40));
        auto props = json::parse(
            s.Call("GET", std::string("/products/") + kRawPk + "/devices/raw-0003/properties").body);
        for (const auto& item : props["items"]) {
          if (item["identifier"] == "Humidity" && item["value"] == 41) return true;
        }
        return false;
      },
      5s, 100ms));
}

TEST_CASE("Raw: script PUT refuses broken scripts and script:test answers results or errors with lines",
          "[integration][raw]") {
  RawStack s;
  s.CreateRawProduct();
  const std::string base = std::string("/products/") + kRawPk;

  auto r = s.Call("PUT", base + "/script", {{"script", "function rawDataToProtocol(b) {\n  return {;\n"}});
  REQUIRE(r.status == 400);
  json problem = json::parse(r.body);
  CHECK(problem["errors"][0]["path"] == "/script");
  CHECK(problem["errors"][0]["code"] == 26002);
  // No protocolToRawData: 26006; empty: 26001.
  for (const auto& [source, code] :
       {std::pair<std::string, int>{"function rawDataToProtocol(b) { return {}; }", 26006},
        std::pair<std::string, int>{"", 26001}}) {
    r = s.Call("PUT", base + "/script", {{"script", source}});
    REQUIRE(r.status == 400);
    CHECK(json::parse(r.body)["errors"][0]["code"] == code);
  }

  // The saved script on a sample frame.
  r = s.Call("POST", base + "/script:test", {{"direction", "up"}, {"payloadHex", "00 00000007 fff6 37"}});
  REQUIRE(r.status == 200);
  json out = json::parse(r.body);
  CHECK(out["ok"] == true);
  CHECK(out["result"]["params"]["Temp"] == -10);
  r = s.Call("POST", base + "/script:test",
             {{"direction", "down"},
              {"message",
               {{"id", "258"}, {"method", "thing.service.property.set"}, {"params", {{"PowerSwitch", 1}}}}}});
  out = json::parse(r.body);
  CHECK(out["ok"] == true);
  CHECK(out["result"]["payloadHex"] == "010000010201");
  // A draft script that throws: the error with its line, nothing saved.
  r = s.Call("POST", base + "/script:test",
             {{"script",
               "function rawDataToProtocol(b) {\n\n  throw new Error('boom');\n}\nfunction "
               "protocolToRawData(j) { return [1]; }"},
              {"payloadHex", "00"}});
  out = json::parse(r.body);
  CHECK(out["ok"] == false);
  CHECK(out["error"]["code"] == 26002);
  CHECK(out["error"]["line"] == 3);
  r = s.Call("POST", base + "/script:test", {{"direction", "up"}, {"payloadHex", "10"}});
  out = json::parse(r.body);
  CHECK(out["error"]["code"] == 26002);
  CHECK(out["error"]["message"].get<std::string>().find("CPU time limit") != std::string::npos);
  CHECK(s.Call("POST", base + "/script:test", {{"payloadHex", "zz"}}).status == 400);

  // transformPayload (custom topics): only script:test runs it today; optional, 26006 when absent.
  const std::string with_transform =
      std::string(kScript) +
      "function transformPayload(topic, bytes) { return { topic: topic, first: bytes[0] & 0xff }; }\n";
  r = s.Call("POST", base + "/script:test",
             {{"script", with_transform},
              {"direction", "transform"},
              {"topic", "/a1RawTest01/d/user/up"},
              {"payloadHex", "ff01"}});
  out = json::parse(r.body);
  CHECK(out["ok"] == true);
  CHECK(out["result"] == json{{"topic", "/a1RawTest01/d/user/up"}, {"first", 255}});
  r = s.Call("POST", base + "/script:test",
             {{"direction", "transform"}, {"topic", "/a1RawTest01/d/user/up"}, {"payloadHex", "01"}});
  CHECK(json::parse(r.body)["error"]["code"] == 26006);
}

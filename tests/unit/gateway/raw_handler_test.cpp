// The handler's raw-product paths with a fake directory: up_raw through the script into the same
// validation and storage as an Alink post, the reply encoded back to bytes, script failures with their
// codes, the per-product CPU budget (26010), down_raw_reply completing a call.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"
#include "iot/common/hash.hpp"

using iot::gateway::HandlerSettings;
using iot::gateway::HandleStatus;
using iot::gateway::Work;
using iot::gateway::testing::kNow;
using nlohmann::json;
namespace gw = iot::gateway;
namespace t = iot::gateway::testing;

namespace {

const char* kScript = R"JS(
function rawDataToProtocol(b) {
  if (b[0] === 0) return { method: 'thing.event.property.post', id: '' + b[1], params: { RunCount: b[2], Humidity: b[3] } };
  if (b[0] === 3) return { id: '' + b[1], code: b[2] === 0 ? 200 : 460, data: {} };
  if (b[0] === 9) { for (;;) {} }
  if (b[0] === 8) return { id: '1' };
  throw new Error('bad frame');
}
function protocolToRawData(j) { return [2, parseInt(j.id), j.code === 200 ? 0 : 1]; }
)JS";

std::string Bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) {
    out.push_back(static_cast<char>(v));
  }
  return out;
}

HandlerSettings RawSettings(int budget_ms) {
  HandlerSettings s;
  s.rate_per_second = 100000;
  s.script_limits.cpu_time = std::chrono::milliseconds(20);
  s.script_budget_ms = budget_ms;
  return s;
}

// The reference product in strict mode plus raw products a1Raw (device rdev1) and a1Raw2 (rdev2) with
// the script above.
struct Fixture : t::HandlerFixture {
  explicit Fixture(int budget_ms = 250) : HandlerFixture(RawSettings(budget_ms), iot::tsl::Mode::kStrict) {
    gw::ProductEntry raw = source.products["a1Prod"];
    raw.raw = true;
    raw.script = std::make_shared<const std::string>(kScript);
    for (const char* pk : {"a1Raw", "a1Raw2"}) {
      raw.product_key = pk;
      source.products[pk] = raw;
    }
    source.devices["a1Raw/rdev1"] = gw::DeviceEntry{21, true};
    source.devices["a1Raw2/rdev2"] = gw::DeviceEntry{22, true};
  }
};

const std::string kUp = "/sys/a1Raw/rdev1/thing/model/up_raw";

}  // namespace

TEST_CASE("Raw handler: bytes become a validated property post and the reply goes back as bytes",
          "[gateway][raw]") {
  Fixture f;
  Work w = f.Run(kUp, Bytes({0, 7, 5, 200}));
  REQUIRE(w.reply);
  CHECK(w.reply->topic == kUp + "_reply");
  CHECK(w.reply->code == 200);
  CHECK(w.reply->raw == Bytes({2, 7, 0}));
  CHECK(w.reply->encoder);  // re-encodes if the writer changes the reply
  REQUIRE(w.telemetry);
  CHECK(w.telemetry->device_id == 21);
  CHECK(w.telemetry->message_id == "7");  // strict mode: Humidity -56 (200 as a signed byte) is out of range
  CHECK(w.telemetry->payload_hash == iot::Fnv1a64(Bytes({0, 7, 5, 200})));
  REQUIRE(w.telemetry->properties.size() == 1);  // Humidity 200 is out of range
  CHECK(w.telemetry->properties[0].identifier == "RunCount");
  REQUIRE(w.telemetry->rejections.size() == 1);
  CHECK(w.telemetry->rejections[0].identifier == "Humidity");
  CHECK(w.reply->data.contains("Humidity"));  // named in the reply before it was encoded

  // The encoder turns a changed reply into bytes too (what the writer does after a storage failure).
  auto bytes =
      w.reply->encoder->Encode(R"({"id":"7","code":500,"data":{},"method":"thing.event.property.post"})");
  REQUIRE(bytes);
  CHECK(*bytes == Bytes({2, 7, 1}));
}

TEST_CASE("Raw handler: script failures are answered in Alink JSON with their codes and stored",
          "[gateway][raw]") {
  Fixture f;
  struct Case {
    std::string payload;
    int code;
  };
  for (const Case& c : {Case{Bytes({5}), 26002}, Case{Bytes({8}), 6450}, Case{Bytes({9}), 26002}}) {
    Work w = f.Run(kUp, c.payload);
    REQUIRE(w.reply);
    CHECK(w.reply->code == c.code);
    CHECK(w.reply->raw.empty());
    CHECK_FALSE(w.reply->encoder);
    REQUIRE(w.telemetry);
    REQUIRE(w.telemetry->rejections.size() == 1);
    CHECK(w.telemetry->rejections[0].code == c.code);
  }
  // An Alink product's device posting raw: not supported. A raw product without a script: 6200.
  f.source.devices["a1Prod/dev1"] = gw::DeviceEntry{11, true};
  CHECK(f.Run("/sys/a1Prod/dev1/thing/model/up_raw", Bytes({0})).reply->code == 6300);
  gw::ProductEntry bare = f.source.products["a1Raw"];
  bare.product_key = "a1Bare";
  bare.script.reset();
  f.source.products["a1Bare"] = bare;
  f.source.devices["a1Bare/bdev1"] = gw::DeviceEntry{31, true};
  CHECK(f.Run("/sys/a1Bare/bdev1/thing/model/up_raw", Bytes({0})).reply->code == 6200);
}

// The budget is CPU time of the worker's thread (the clock below stands still, so nothing refills).
TEST_CASE("Raw handler: a product's runaway script spends its own budget - other products are served",
          "[gateway][raw][budget]") {
  Fixture f(/*budget_ms=*/50);
  const std::string alink_post = "/sys/a1Prod/dev1/thing/event/property/post";
  int limited = 0;
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    Work w = f.Run(kUp, Bytes({9}));
    REQUIRE(w.reply);
    if (w.reply->code == iot::script::kScriptError) {
      ++limited;  // ran to its 20 ms CPU limit
    }
    if (w.reply->code == iot::script::kRateLimited) {
      ++refused;
      CHECK(w.reply->message.find("CPU budget (50 ms per second)") != std::string::npos);
      REQUIRE(w.telemetry);
      CHECK(w.telemetry->rejections.at(0).code == iot::script::kRateLimited);
    }
    // Meanwhile another raw product and an Alink device are served.
    Work other = f.Run("/sys/a1Raw2/rdev2/thing/model/up_raw", Bytes({0, static_cast<int>(i), 5, 50}));
    REQUIRE(other.reply);
    CHECK(other.reply->code == 200);
    CHECK(other.reply->raw == Bytes({2, i, 0}));
    Work alink =
        f.Run(alink_post,
              R"({"id":"1","version":"1.0","params":{"RunCount":1},"method":"thing.event.property.post"})");
    REQUIRE(alink.reply);
    CHECK(alink.reply->code == 200);
  }
  // Each call runs at least its 20 ms: 50 ms hold at most three (the last one overdraws), never eight.
  CHECK(limited >= 1);
  CHECK(limited <= 3);
  CHECK(refused == 8 - limited);
  // Refused calls do not run: good frames of the same product are refused too, until time refills it.
  CHECK(f.Run(kUp, Bytes({0, 1, 1, 1})).reply->code == iot::script::kRateLimited);
  CHECK(f.Run(kUp, Bytes({0, 1, 1, 1}), HandleStatus::kWork, kNow + 2000).reply->code == 200);
}

TEST_CASE("Raw handler: down_raw_reply completes the call its id names", "[gateway][raw]") {
  Fixture f;
  Work w = f.Run("/sys/a1Raw/rdev1/thing/model/down_raw_reply", Bytes({3, 42, 0}));
  CHECK_FALSE(w.reply);
  auto* op = std::get_if<gw::ServiceReplyOp>(&w.op);
  REQUIRE(op);
  CHECK(op->device_id == 21);
  CHECK(op->alink_id == "42");
  CHECK(op->succeeded);
  w = f.Run("/sys/a1Raw/rdev1/thing/model/down_raw_reply", Bytes({5}));
  CHECK(std::holds_alternative<std::monostate>(w.op));
  REQUIRE(w.telemetry);
  CHECK(w.telemetry->rejections.at(0).code == 26002);
}

// The device shadow's handler and answers, and the no-silence rules: reply-less kinds counted.
#include <string>
#include <variant>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "handler_fixture.hpp"
#include "iot/common/codes.hpp"
#include "reply.hpp"

using iot::gateway::HandlerSettings;
using iot::gateway::HandleStatus;
using iot::gateway::Work;
using nlohmann::json;
namespace gw = iot::gateway;
namespace shadow = iot::alink::shadow;
namespace t = iot::gateway::testing;

namespace {

const std::string kUpdate = "/shadow/update/a1Prod/dev1";

json Answer(const Work& w) {
  REQUIRE(w.reply.has_value());
  CHECK(w.reply->topic == "/shadow/get/a1Prod/dev1");
  return json::parse(gw::replies::Payload(*w.reply));
}

}  // namespace

TEST_CASE("Shadow handler: a request becomes a ShadowOp answered on /shadow/get", "[gateway][shadow]") {
  t::HandlerFixture f{HandlerSettings{}};
  Work w = f.Run(kUpdate, R"({"method":"update","state":{"reported":{"color":"red"}},"version":2})");
  const auto* op = std::get_if<gw::ShadowOp>(&w.op);
  REQUIRE(op != nullptr);
  CHECK(op->device_id == 11);
  CHECK(op->request.method == shadow::Method::kUpdate);
  CHECK(op->now_s == t::kNow / 1000);
  // Planned as a server error until the writer has the outcome.
  CHECK(Answer(w)["payload"]["content"]["errorcode"] == "500");
  gw::OpResult result;
  result.shadow.version = 2;
  gw::replies::SetShadowAnswer(*w.reply, *op, result);
  CHECK(
      Answer(w) ==
      json::parse(R"({"method":"reply","payload":{"status":"success","version":2},"timestamp":1700000000})"));
  result.shadow_refused = shadow::Error{409, "version conflict"};
  gw::replies::SetShadowAnswer(*w.reply, *op, result);
  CHECK(Answer(w)["payload"]["content"]["errorcode"] == "409");

  // A get of an empty shadow is 407; of a stored one, the document.
  Work get = f.Run(kUpdate, R"({"method":"get"})");
  const auto* get_op = std::get_if<gw::ShadowOp>(&get.op);
  REQUIRE(get_op != nullptr);
  gw::replies::SetShadowAnswer(*get.reply, *get_op, gw::OpResult{});
  CHECK(Answer(get)["payload"]["content"]["errorcode"] == "407");
  gw::OpResult stored;
  stored.shadow.reported = {{"color", "red"}};
  stored.shadow.version = 2;
  gw::replies::SetShadowAnswer(*get.reply, *get_op, stored);
  CHECK(Answer(get)["payload"]["state"]["reported"]["color"] == "red");
  CHECK(Answer(get)["version"] == 2);
}

TEST_CASE("Shadow handler: refusals are answered at once in the shadow's JSON", "[gateway][shadow]") {
  t::HandlerFixture f{HandlerSettings{}};
  Work bad = f.Run(kUpdate, "{oops");
  CHECK(std::holds_alternative<std::monostate>(bad.op));
  CHECK(Answer(bad)["payload"]["status"] == "error");
  CHECK(Answer(bad)["payload"]["content"]["errorcode"] == "400");
  CHECK(Answer(f.Run(kUpdate, R"({"state":{}})"))["payload"]["content"]["errorcode"] == "401");
  // Disabled device: answered, not stored.
  Work disabled = f.Run("/shadow/update/a1Prod/dev2", R"({"method":"get"})");
  CHECK(std::holds_alternative<std::monostate>(disabled.op));
  CHECK(json::parse(gw::replies::Payload(*disabled.reply))["payload"]["status"] == "error");
}

TEST_CASE("Shadow handler: 20 requests per second per device, then 429", "[gateway][shadow]") {
  t::HandlerFixture f{HandlerSettings{}};
  int limited = 0;
  for (int i = 0; i < 30; ++i) {
    Work w = f.Run(kUpdate, R"({"method":"get"})");
    if (Answer(w)["payload"].value("content", json::object()).value("errorcode", "") == "429") {
      ++limited;
    }
  }
  CHECK(limited == 10);
  CHECK(f.metrics.rate_limited.load() == 10);
}

TEST_CASE("No silence: reply-less kinds are counted, not answered", "[gateway][shadow]") {
  t::HandlerFixture f{HandlerSettings{}};
  f.Run("/sys/a1Prod/dev1/thing/log/post", R"({"id":"1","params":[],"method":"thing.log.post"})",
        HandleStatus::kIgnore);
  f.Run("/ota/device/inform/a1Prod/dev1", R"({"id":"2","params":{"version":"1.0"}})");  // stored
  f.Run("/ota/device/progress/a1Prod/dev1", R"({"id":"3","params":{"step":"50"}})");
  CHECK(f.metrics.unanswered.Get("log_post") == 1);
  CHECK(f.metrics.unanswered.Get("ota_inform") == 1);
  CHECK(f.metrics.unanswered.Get("ota_progress") == 1);
  // sys.ack 0: handled and stored, not answered, counted.
  Work quiet = f.Run("/sys/a1Prod/dev1/thing/event/property/post",
                     R"({"id":"4","sys":{"ack":0},"params":{"RunCount":1}})");
  CHECK_FALSE(quiet.reply.has_value());
  CHECK(f.metrics.unanswered.Get("property_post") == 1);
  // A request the platform does not implement: answered 6300, the code that names it.
  Work session = f.Run("/ext/session/a1Prod/dev1/combine/login", R"({"id":"5","params":{}})");
  REQUIRE(session.reply.has_value());
  CHECK(session.reply->code == iot::codes::kNotImplemented);
  CHECK(session.reply->topic == "/ext/session/a1Prod/dev1/combine/login_reply");
}

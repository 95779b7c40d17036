#include "reply.hpp"

#include <memory>
#include <optional>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/topic.hpp"

namespace gw = iot::gateway;
using nlohmann::json;

namespace {

gw::Reply PropertyPostReply() {
  auto topic = iot::alink::ParseTopic("/sys/a1Prod/dev1/thing/event/property/post");
  REQUIRE(topic.has_value());
  auto reply = gw::replies::ForRequest(*topic, std::nullopt, "7", "", 200, json::object(), "");
  REQUIRE(reply.has_value());
  return *reply;
}

class PrefixEncoder final : public gw::ReplyEncoder {
 public:
  std::optional<std::string> Encode(const std::string& alink_reply) const override {
    return "raw:" + json::parse(alink_reply)["message"].get<std::string>();
  }
};

}  // namespace

TEST_CASE("Replies: a request's reply goes to its reply topic with the expected method", "[gateway][reply]") {
  const gw::Reply r = PropertyPostReply();
  CHECK(r.topic == "/sys/a1Prod/dev1/thing/event/property/post_reply");
  CHECK(r.method == "thing.event.property.post");
  const json text = json::parse(gw::replies::Payload(r));
  CHECK(text["id"] == "7");
  CHECK(text["code"] == 200);
  CHECK(text["message"] == "success");
  auto raw_topic = iot::alink::ParseTopic("/sys/a1Prod/dev1/thing/model/up_raw");
  REQUIRE(raw_topic.has_value());
  auto raw = gw::replies::ForRequest(*raw_topic, std::string("/sys/a1Prod/dev1/thing/model/up_raw_reply"),
                                     "8", "thing.event.property.post", 200, json::object(), "");
  REQUIRE(raw.has_value());
  CHECK(raw->topic == "/sys/a1Prod/dev1/thing/model/up_raw_reply");
}

TEST_CASE("Replies: storage failure replaces what was planned, raw replies are encoded again",
          "[gateway][reply]") {
  gw::Reply r = PropertyPostReply();
  r.data = json{{"Temp", json{{"code", 6306}}}};
  r.raw = "bytes encoded by the handler";
  r.encoder = std::make_shared<PrefixEncoder>();
  gw::replies::StorageFailed(r);
  CHECK(r.code == 500);
  CHECK(r.data == json::object());
  CHECK(gw::replies::Payload(r) == "raw:storage failed");
}

TEST_CASE("Replies: desired values answer what was asked, without cleared or unreadable values",
          "[gateway][reply]") {
  const std::vector<iot::store::DesiredProperty> stored = {
      {"PowerOn", "1", 2}, {"Mode", R"("eco")", 4}, {"Cleared", std::nullopt, 3}, {"Broken", "{", 1}};
  gw::Reply all = PropertyPostReply();
  gw::replies::AddDesiredValues(all, {}, stored);
  CHECK(all.data == json::parse(R"({"PowerOn":{"value":1,"version":2},"Mode":{"value":"eco","version":4}})"));
  gw::Reply some = PropertyPostReply();
  gw::replies::AddDesiredValues(some, {"Mode", "Cleared"}, stored);
  CHECK(some.data == json::parse(R"({"Mode":{"value":"eco","version":4}})"));
}

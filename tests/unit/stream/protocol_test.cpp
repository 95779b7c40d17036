#include "stream/protocol.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace iot::api::stream;

TEST_CASE("Stream protocol: subscribe and unsubscribe commands parse", "[stream][protocol]") {
  auto a = ParseClientMessage(R"({"subscribe":{"productKey":"pk01"}})");
  REQUIRE(std::holds_alternative<Command>(a));
  CHECK(std::get<Command>(a).kind == Command::Kind::kSubscribe);
  CHECK(std::get<Command>(a).product_key == "pk01");
  CHECK(std::get<Command>(a).device_name.empty());
  auto b = ParseClientMessage(R"({"unsubscribe":{"productKey":"pk01","deviceName":"dev-1@x.y:z"}})");
  REQUIRE(std::holds_alternative<Command>(b));
  CHECK(std::get<Command>(b).kind == Command::Kind::kUnsubscribe);
  CHECK(std::get<Command>(b).device_name == "dev-1@x.y:z");
}

TEST_CASE("Stream protocol: bad messages give an error text", "[stream][protocol]") {
  const char* bad[] = {"",
                       "not json",
                       "[]",
                       "42",
                       R"({})",
                       R"({"subscribe":{"productKey":"a"},"x":1})",
                       R"({"subscribe":"pk"})",
                       R"({"subscribe":{}})",
                       R"({"subscribe":{"productKey":5}})",
                       R"({"subscribe":{"productKey":"a/b"}})",
                       R"({"subscribe":{"productKey":"pk","deviceName":""}})",
                       R"({"subscribe":{"productKey":"pk","deviceName":"a b"}})",
                       R"({"subscribe":{"productKey":"pk","extra":true}})",
                       R"({"publish":{"productKey":"pk"}})",
                       "{\"subscribe\":{\"productKey\":\"\xff\"}}"};
  for (const char* text : bad) {
    INFO(text);
    auto r = ParseClientMessage(text);
    REQUIRE(std::holds_alternative<ProtocolError>(r));
    CHECK_FALSE(std::get<ProtocolError>(r).message.empty());
  }
  CHECK(std::holds_alternative<ProtocolError>(ParseClientMessage(std::string(10000, ' '))));
}

TEST_CASE("Stream protocol: server messages are valid JSON with escaped keys", "[stream][protocol]") {
  auto change =
      nlohmann::json::parse(ChangeMessage("property", "pk\"1", "d\\n", 42, R"({"T":{"value":1,"time":42}})"));
  CHECK(change["type"] == "property");
  CHECK(change["productKey"] == "pk\"1");
  CHECK(change["deviceName"] == "d\\n");
  CHECK(change["time"] == 42);
  CHECK(change["data"]["T"]["value"] == 1);

  Command c{Command::Kind::kSubscribe, "pk01", "dev1"};
  auto ack = nlohmann::json::parse(AnswerMessage(c));
  CHECK(ack == nlohmann::json{{"type", "subscribed"}, {"productKey", "pk01"}, {"deviceName", "dev1"}});
  auto err = nlohmann::json::parse(ErrorMessage("notFound", "unknown \"product\"", &c));
  CHECK(err["type"] == "error");
  CHECK(err["error"]["code"] == "notFound");
  CHECK(err["request"]["subscribe"]["productKey"] == "pk01");
  auto plain = nlohmann::json::parse(ErrorMessage("badRequest", "x", nullptr));
  CHECK_FALSE(plain.contains("request"));
}

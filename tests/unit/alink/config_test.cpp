#include "iot/alink/config.hpp"

#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"

namespace alink = iot::alink;
using nlohmann::json;

namespace {
alink::ConfigFile Sample() {
  return {"3cfda5091d5b4f53b51621cf4bbf86ec", 16, std::string(64, 'a'),
          "https://iot.example/api/v1/files/config/3cfda5091d5b4f53b51621cf4bbf86ec?expires=1&signature=ab"};
}
}  // namespace

TEST_CASE("ConfigData has exactly the six fields of thing.config.get's reply", "[alink][config]") {
  const json data = alink::ConfigData(Sample());
  CHECK(data == json{{"configId", "3cfda5091d5b4f53b51621cf4bbf86ec"},
                     {"configSize", 16},
                     {"sign", std::string(64, 'a')},
                     {"signMethod", "Sha256"},
                     {"url", Sample().url},
                     {"getType", "file"}});
}

TEST_CASE("BuildConfigPush is a thing.config.push request carrying the same fields", "[alink][config]") {
  const json push = json::parse(alink::BuildConfigPush("7", Sample()));
  CHECK(push["id"] == "7");
  CHECK(push["version"] == "1.0");
  CHECK(push["method"] == "thing.config.push");
  CHECK(push["params"] == alink::ConfigData(Sample()));
}

TEST_CASE("CheckConfigGetParams takes product scope and file type only", "[alink][config]") {
  CHECK(alink::CheckConfigGetParams(json{{"configScope", "product"}, {"getType", "file"}}).has_value());
  CHECK(alink::CheckConfigGetParams(json::object()).has_value());
  CHECK(alink::CheckConfigGetParams(json{{"configScope", "device"}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::CheckConfigGetParams(json{{"getType", "content"}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::CheckConfigGetParams(json{{"getType", 1}}).error() == alink::Errc::kBadFieldType);
  CHECK(alink::CheckConfigGetParams(json::array()).error() == alink::Errc::kBadFieldType);
}

TEST_CASE("DecodeConfigData reads back what ConfigData wrote and refuses the malformed", "[alink][config]") {
  auto decoded = alink::DecodeConfigData(alink::ConfigData(Sample()));
  REQUIRE(decoded.has_value());
  CHECK(decoded->config_id == Sample().config_id);
  CHECK(decoded->size == 16);
  CHECK(decoded->sign == Sample().sign);
  CHECK(decoded->url == Sample().url);

  json missing = alink::ConfigData(Sample());
  missing.erase("url");
  CHECK(alink::DecodeConfigData(missing).error() == alink::Errc::kMissingField);
  json wrong = alink::ConfigData(Sample());
  wrong["configSize"] = "16";
  CHECK(alink::DecodeConfigData(wrong).error() == alink::Errc::kBadFieldType);
  wrong = alink::ConfigData(Sample());
  wrong["signMethod"] = "Md5";
  CHECK(alink::DecodeConfigData(wrong).error() == alink::Errc::kBadFieldType);
  wrong = alink::ConfigData(Sample());
  wrong["configSize"] = -1;
  CHECK(alink::DecodeConfigData(wrong).error() == alink::Errc::kBadFieldType);
  CHECK(alink::DecodeConfigData(json("x")).error() == alink::Errc::kBadFieldType);
}

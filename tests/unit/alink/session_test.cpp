#include "iot/alink/session.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "iot/alink/error.hpp"

namespace alink = iot::alink;
using alink::TopicKind;
using nlohmann::json;

namespace {

json Login(const std::string& dn) {
  return {{"productKey", "a1b2c3d4e5f"},  {"deviceName", dn},         {"clientId", "a1b2c3d4e5f." + dn},
          {"timestamp", "1700000000000"}, {"signMethod", "hmacSha1"}, {"sign", "abcdef"},
          {"cleanSession", "true"}};
}

int Code(const iot::Result<alink::SessionRequest>& r) { return r ? 200 : alink::AlinkCode(r.error()); }

}  // namespace

TEST_CASE("Session params: login in both SDKs' spellings", "[alink][session]") {
  auto c_sdk = alink::DecodeSessionParams(TopicKind::kSessionLogin, Login("dev01"));
  REQUIRE(c_sdk.has_value());
  REQUIRE(c_sdk->logins.size() == 1);
  CHECK(c_sdk->logins[0].device_name == "dev01");
  CHECK(c_sdk->logins[0].sign_method == alink::SignMethod::kHmacSha1);

  json node = Login("dev02");
  node.erase("signMethod");
  node["signmethod"] = "hmacsha256";
  node["timestamp"] = 1700000000000;  // the Node SDK sends a number
  auto parsed = alink::DecodeSessionParams(TopicKind::kSessionLogin, node);
  REQUIRE(parsed.has_value());
  CHECK(parsed->logins[0].timestamp == "1700000000000");
  CHECK(parsed->logins[0].sign_method == alink::SignMethod::kHmacSha256);
  CHECK(alink::SessionMethod(TopicKind::kSessionBatchLogin) == "combine.batch.login");
}

TEST_CASE("Session params: batches and logouts", "[alink][session]") {
  auto batch = alink::DecodeSessionParams(
      TopicKind::kSessionBatchLogin, json{{"deviceList", json::array({Login("dev01"), Login("dev02")})}});
  REQUIRE(batch.has_value());
  CHECK(batch->logins.size() == 2);
  auto logout = alink::DecodeSessionParams(TopicKind::kSessionLogout,
                                           json{{"productKey", "a1b2c3d4e5f"}, {"deviceName", "dev01"}});
  REQUIRE(logout.has_value());
  REQUIRE(logout->logouts.size() == 1);
  CHECK(logout->logouts[0].device_name == "dev01");
  auto batch_logout =
      alink::DecodeSessionParams(TopicKind::kSessionBatchLogout,
                                 json::array({{{"productKey", "a1b2c3d4e5f"}, {"deviceName", "dev01"}},
                                              {{"productKey", "a1b2c3d4e5f"}, {"deviceName", "dev02"}}}));
  REQUIRE(batch_logout.has_value());
  CHECK(batch_logout->logouts.size() == 2);
}

TEST_CASE("Session params: bad input is a clear 460 or 6292", "[alink][session][security]") {
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionLogin, json::object())) == 460);
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionLogin, json::array())) == 460);
  json bad_method = Login("dev01");
  bad_method["signMethod"] = "rot13";
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionLogin, bad_method)) == 6292);
  json bad_name = Login("dev01");
  bad_name["deviceName"] = "a/b/#";
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionLogin, bad_name)) == 460);
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionLogout, json{{"productKey", 1}})) == 460);
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionBatchLogin, json::object())) == 460);
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionBatchLogin,
                                        json{{"deviceList", json::array()}})) == 460);
  json many = json::array();
  for (std::size_t i = 0; i <= alink::kMaxSessionBatch; ++i) {
    many.push_back({{"productKey", "a1b2c3d4e5f"}, {"deviceName", "dev" + std::to_string(100 + i)}});
  }
  CHECK(Code(alink::DecodeSessionParams(TopicKind::kSessionBatchLogout, many)) == 460);
  CHECK_FALSE(alink::DecodeSessionParams(TopicKind::kPropertyPost, json::object()).has_value());
}
